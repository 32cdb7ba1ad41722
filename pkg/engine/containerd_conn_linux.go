package engine

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"

	"golang.org/x/sys/unix"
)

// isSocket tells why path is not a unix socket, if it is not.
func isSocket(path string) error {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return err
	}
	if st.Mode&unix.S_IFMT != unix.S_IFSOCK {
		return fmt.Errorf("not a socket")
	}
	return nil
}

// dialTrusted connects to the unix socket at path and checks, by
// SO_PEERCRED, that the process that listens on it runs as root or as us.
func dialTrusted(ctx context.Context, path string) (net.Conn, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "unix", path)
	if err != nil {
		return nil, err
	}
	raw, err := conn.(*net.UnixConn).SyscallConn()
	if err != nil {
		conn.Close()
		return nil, err
	}
	var cred *unix.Ucred
	var cerr error
	if err := raw.Control(func(fd uintptr) {
		cred, cerr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	}); err != nil || cerr != nil {
		conn.Close()
		return nil, fmt.Errorf("credentials of %s: %v", path, errors.Join(err, cerr))
	}
	if cred.Uid != 0 && int(cred.Uid) != os.Geteuid() {
		conn.Close()
		return nil, fmt.Errorf("the process on %s runs as uid %d, neither root nor us: not taking its word for where layers are", path, cred.Uid)
	}
	return conn, nil
}
