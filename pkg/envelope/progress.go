package envelope

// Progress is told how far a pass over an envelope's trees has come:
// layer-export writing one, layer-import applying one, layer-check
// verifying one. The work reports in batches (a few hundred KiB or
// entries at a time) from the goroutines doing it, so that an
// implementation can be a few atomic counters that another goroutine reads
// to print a line. The measure of progress is bytes of tree tars
// (layer.tar and each volume's tar), uncompressed: a compressed
// envelope's size is not known before its end.
type Progress interface {
	// Total starts the count: the bytes of all tree tars and their
	// entries, as measured or as envelope.json declares them, with
	// nothing done yet. Anything added before it (entries seen while
	// measuring) is dropped.
	Total(bytes, entries int64)
	// Add counts bytes of tree tar and entries done since the last call.
	Add(bytes, entries int64)
	// Phase names what is being done now: "measuring", "reading",
	// "indexing", "verifying", "syncing", "swapping".
	Phase(name string)
}

// Total is the sum of the declared sizes and entry counts of m's trees:
// what a Progress is told before they are read. A file of the original
// layer-tool declares no count (its Meta has a bound): 0, unknown.
func Total(m *Meta) (bytes, entries int64) {
	bytes, entries = m.Layer.Size, m.Layer.Entries
	if IsLegacy(m) {
		entries = 0
	}
	for _, v := range m.Volumes {
		bytes += v.Size
		entries += v.Entries
	}
	return bytes, entries
}
