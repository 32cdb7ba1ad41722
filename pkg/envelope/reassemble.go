package envelope

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"

	"github.com/klauspost/compress/gzip"
	"github.com/vbatts/tar-split/tar/asm"
	"github.com/vbatts/tar-split/tar/storage"
)

// Reassemble rebuilds a layer tar from gzipped tar-split metadata and the
// files that get returns, and returns its digest as "sha256:HEX". A file
// whose size or crc64 differs from the metadata is an error.
func Reassemble(tarSplit []byte, get storage.FileGetter) (string, error) {
	zr, err := gzip.NewReader(bytes.NewReader(tarSplit))
	if err != nil {
		return "", fmt.Errorf("tar-split metadata: %w", err)
	}
	defer zr.Close()
	h := sha256.New()
	if err := asm.WriteOutputTarStream(get, storage.NewJSONUnpacker(zr), h); err != nil {
		return "", fmt.Errorf("reassemble %s: %w", MemberLayer, err)
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil)), nil
}
