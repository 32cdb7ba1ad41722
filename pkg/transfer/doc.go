// Package transfer moves a container's state between directories and
// envelopes, free of any engine: [Export] writes the envelope of a layer
// read from its directory, [Import] replaces a layer directory with the
// one an envelope carries, verified before anything is swapped in. The
// commands in package cli find the directories through an engine, apply
// the host gates and print what happened; everything in between is here.
//
// What it owns:
//   - the measuring pass and the two passes over a tree that write
//     layer.tar and then its tar-split metadata without holding either
//     (export.go);
//   - the import: the gate before anything is written, the free-space
//     check, extraction into a staging dir beside the target (where
//     overlay.Apply proves every entry as it lands), and the swap
//     (import.go);
//   - the sentinel errors an import's callers may branch on: [ErrNoSpace],
//     [ErrVerify].
//
// A tree is a directory with its overlay options. An envelope v1 carries
// one, the container's read-write layer; the types name it so that the
// volumes of a container can follow as further trees of a later envelope
// version, each staged beside its own directory and swapped with the rest.
//
// Linux-only calls (statfs) sit in _linux.go files; elsewhere Import fails
// with a clear error, so that the package builds on every platform.
package transfer
