package cli_test

// The consumers of an envelope that the README's pipelines name, run for
// real by testdata/script/pipe_*.txtar: an OpenSSH server, an S3 API
// server with awscli as the uploader, restic, and cron's environment. The
// servers listen on 127.0.0.1 only, on a free port, and live as long as
// the script that started them.
//
//	[tool:NAME]        condition: NAME (sshd, aws, restic, rclone) is
//	                   here; false for all with LT_PIPELINE_TESTS=0 (the
//	                   cron script needs no such tool and runs); with
//	                   LAYER_TOOL_E2E=require a missing one fails the
//	                   script instead
//	sshserver          start Debian's sshd (/usr/sbin/sshd) on a free
//	                   port with a host key and a client key made here:
//	                   root may log in with the key alone, no PAM; its
//	                   sessions get the script's PATH (which finds
//	                   layer-export and layer-import) and DOCKER_HOST.
//	                   Sets SSHPORT, and SSHCONFIG, the client config for
//	                   ssh -F (key, known host, batch mode)
//	s3server           start rclone serve s3 (LT_RCLONE) on a free port
//	                   over a local directory, with fixed keys, logging
//	                   each request to WORK/rclone.log; sets
//	                   S3ENDPOINT and AWS_* for awscli (its own config
//	                   file, path-style addressing, 5 MB multipart
//	                   threshold and part size), and puts Debian's aws
//	                   (/usr/bin/aws) first on PATH

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/rogpeppe/go-internal/testscript"
)

// pipelineTools are where needtool finds each tool: an absolute path, a
// name looked up on PATH, or a variable naming the binary.
var pipelineTools = map[string][]string{
	"sshd":   {"/usr/sbin/sshd", "ssh", "ssh-keygen"},
	"aws":    {"/usr/bin/aws"},
	"restic": {"restic"},
	"rclone": {"$LT_RCLONE"},
}

// toolCondition is the condition [tool:NAME]: true when each binary of
// pipelineTools[name] is here. With LT_PIPELINE_TESTS=0 it is false, so
// the pipeline scripts skip; with LAYER_TOOL_E2E=require a missing one is
// an error, which fails the script.
func toolCondition(name string, getenv func(string) string) (bool, error) {
	bins, ok := pipelineTools[name]
	if !ok {
		return false, fmt.Errorf("unknown tool %q", name)
	}
	if getenv("LT_PIPELINE_TESTS") == "0" {
		return false, nil
	}
	for _, b := range bins {
		if _, err := toolPath(b, getenv); err != nil {
			if getenv("LAYER_TOOL_E2E") == "require" {
				return false, fmt.Errorf("LAYER_TOOL_E2E=require, but %s: %v (scripts/test.sh installs or builds it; LT_PIPELINE_TESTS=0 leaves the pipeline tests out)", name, err)
			}
			return false, nil
		}
	}
	return true, nil
}

// toolPath resolves one entry of pipelineTools.
func toolPath(b string, getenv func(string) string) (string, error) {
	if v, ok := strings.CutPrefix(b, "$"); ok {
		b = getenv(v)
		if b == "" {
			return "", fmt.Errorf("%s is not set", v)
		}
	}
	if filepath.IsAbs(b) {
		if _, err := os.Stat(b); err != nil {
			return "", err
		}
		return b, nil
	}
	return exec.LookPath(b)
}

// freePort is a port on 127.0.0.1 that nobody listened on a moment ago.
func freePort(ts *testscript.TestScript) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	ts.Check(err)
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// startServer starts a server that listens on 127.0.0.1:port, its output
// in WORK/name.log, waits until it accepts connections, and stops it when
// the script ends.
func startServer(ts *testscript.TestScript, name string, port int, argv []string, env []string) {
	log, err := os.Create(ts.MkAbs(name + ".log"))
	ts.Check(err)
	defer log.Close()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = log, log
	// Its own process group: a server's children (sshd's sessions) are
	// stopped with it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	ts.Check(cmd.Start())
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	ts.Defer(func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-exited
		}
	})
	addr := "127.0.0.1:" + strconv.Itoa(port)
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return
		}
		select {
		case err := <-exited:
			exited <- err
			ts.Fatalf("%s exited: %v; %s", name, err, ts.ReadFile(name+".log"))
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			ts.Fatalf("%s: nothing listens on %s after 30s; %s", name, addr, ts.ReadFile(name+".log"))
		}
	}
}

// cmdSshserver: sshserver
func cmdSshserver(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 0 {
		ts.Fatalf("usage: sshserver")
	}
	dir := ts.MkAbs(".sshtest")
	ts.Check(os.Mkdir(dir, 0o700))
	for _, k := range []string{"host", "client"} {
		out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "layer-tool-test-"+k,
			"-f", filepath.Join(dir, k)).CombinedOutput()
		if err != nil {
			ts.Fatalf("ssh-keygen: %v: %s", err, out)
		}
	}
	hostPub, err := os.ReadFile(filepath.Join(dir, "host.pub"))
	ts.Check(err)
	clientPub, err := os.ReadFile(filepath.Join(dir, "client.pub"))
	ts.Check(err)
	ts.Check(os.WriteFile(filepath.Join(dir, "authorized_keys"), clientPub, 0o600))
	port := freePort(ts)
	ts.Check(os.WriteFile(filepath.Join(dir, "known_hosts"),
		[]byte(fmt.Sprintf("[127.0.0.1]:%d %s", port, hostPub)), 0o600))
	// Only what the test needs: key logins for root, no PAM, nothing
	// forwarded. SetEnv gives the sessions the script's PATH, where
	// testscript keeps layer-export and layer-import, and DOCKER_HOST,
	// the private daemon.
	sshdConfig := fmt.Sprintf(`ListenAddress 127.0.0.1:%d
HostKey %s
PidFile none
AuthorizedKeysFile %s
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
AllowTcpForwarding no
X11Forwarding no
PermitTTY no
UseDNS no
LogLevel VERBOSE
SetEnv PATH=%s DOCKER_HOST=%s
`, port, filepath.Join(dir, "host"), filepath.Join(dir, "authorized_keys"), ts.Getenv("PATH"), ts.Getenv("DOCKER_HOST"))
	ts.Check(os.WriteFile(filepath.Join(dir, "sshd_config"), []byte(sshdConfig), 0o600))
	sshConfig := fmt.Sprintf(`Host 127.0.0.1
	Port %d
	User root
	IdentityFile %s
	IdentitiesOnly yes
	UserKnownHostsFile %s
	StrictHostKeyChecking yes
	BatchMode yes
	LogLevel ERROR
`, port, filepath.Join(dir, "client"), filepath.Join(dir, "known_hosts"))
	ts.Check(os.WriteFile(filepath.Join(dir, "ssh_config"), []byte(sshConfig), 0o600))
	// sshd refuses to start without its privilege separation directory,
	// which Debian's init script or systemd unit would make.
	ts.Check(os.MkdirAll("/run/sshd", 0o755))
	startServer(ts, "sshd", port, []string{"/usr/sbin/sshd", "-D", "-e", "-f", filepath.Join(dir, "sshd_config")}, nil)
	ts.Setenv("SSHPORT", strconv.Itoa(port))
	ts.Setenv("SSHCONFIG", filepath.Join(dir, "ssh_config"))
}

// The keys of s3server's S3 API; the server and its clients are local to
// the script.
const (
	s3KeyID  = "layertooltest"
	s3Secret = "layertooltestsecret"
)

// cmdS3server: s3server
func cmdS3server(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 0 {
		ts.Fatalf("usage: s3server")
	}
	rclone, err := toolPath("$LT_RCLONE", os.Getenv)
	ts.Check(err)
	data := ts.MkAbs(".s3data")
	ts.Check(os.Mkdir(data, 0o700))
	port := freePort(ts)
	// -vv: the log (WORK/rclone.log) names each part of a multipart
	// upload, which the object's ETag here does not (rclone gives the
	// whole file's MD5).
	startServer(ts, "rclone", port, []string{rclone, "serve", "s3", "-vv",
		"--config", ts.MkAbs(".rclone.conf"), "--cache-dir", ts.MkAbs(".rclone-cache"),
		"--addr", "127.0.0.1:" + strconv.Itoa(port), "--auth-key", s3KeyID + "," + s3Secret, data},
		[]string{"PATH=/usr/bin:/bin", "HOME=" + ts.Getenv("WORK")})
	// Debian's awscli, which test.sh installs, ahead of any other aws on
	// PATH (a pip or pyenv one).
	bin := ts.MkAbs(".s3bin")
	ts.Check(os.Mkdir(bin, 0o755))
	ts.Check(os.Symlink("/usr/bin/aws", filepath.Join(bin, "aws")))
	ts.Setenv("PATH", bin+string(os.PathListSeparator)+ts.Getenv("PATH"))
	awsConfig := ts.MkAbs(".aws-config")
	ts.Check(os.WriteFile(awsConfig, []byte(`[default]
region = us-east-1
s3 =
    addressing_style = path
    multipart_threshold = 5MB
    multipart_chunksize = 5MB
`), 0o600))
	for k, v := range map[string]string{
		"S3ENDPOINT":                  "http://127.0.0.1:" + strconv.Itoa(port),
		"AWS_ACCESS_KEY_ID":           s3KeyID,
		"AWS_SECRET_ACCESS_KEY":       s3Secret,
		"AWS_CONFIG_FILE":             awsConfig,
		"AWS_SHARED_CREDENTIALS_FILE": ts.MkAbs(".aws-credentials"),
		"AWS_EC2_METADATA_DISABLED":   "true",
		"AWS_PAGER":                   "",
	} {
		ts.Setenv(k, v)
	}
}
