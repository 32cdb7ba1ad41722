package engine

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// TestDialTrusted: a socket whose listener runs as another user is not
// believed. The test listens as nobody (effective uid 65534, the saved
// uid keeping root to come back), so it needs root.
func TestDialTrusted(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to listen as another user")
	}
	// A dir nobody may bind in (t.TempDir's parent is root's alone).
	dir, err := os.MkdirTemp("", "dialtrusted-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "other.sock")
	if err := unix.Setresuid(-1, 65534, 0); err != nil {
		t.Fatal(err)
	}
	ln, lerr := net.Listen("unix", sock)
	if err := unix.Setresuid(-1, 0, -1); err != nil {
		t.Fatal(err) // cannot go on as the wrong user
	}
	if lerr != nil {
		t.Fatal(lerr)
	}
	defer ln.Close()
	_, err = dialContainerd(context.Background(), sock, "ns1")
	if err == nil || !strings.Contains(err.Error(), "runs as uid 65534, neither root nor us") {
		t.Fatalf("dial a socket nobody listens on: %v", err)
	}
}
