// Package plugintest runs the built plugins as Docker Machine runs them (MACHINE_PLUGIN_TOKEN,
// the address line, net/rpc over HTTP) and checks the wire: gob type names, the old service
// name, the heartbeat timeout, the config round trip and the fake cloud's lifecycle.
//
//	go test ./...                        builds the binaries into a temporary folder first
//	PLUGINS_DIR=../../target/plugins go test ./...   uses those
//	UPDATE_FIXTURES=1 go test ./...      rewrites testdata/
package plugintest

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/rpc"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"machinetest/libmachine/drivers"
	"machinetest/libmachine/mcnflag"
	"machinetest/libmachine/rpcdriver"
	"machinetest/libmachine/state"
	oldflags "machinetest/plugintest/oldflags"
)

var binDir string

func TestMain(m *testing.M) {
	binDir = os.Getenv("PLUGINS_DIR")
	temporary := binDir == ""
	if temporary {
		dir, err := os.MkdirTemp("", "plugins")
		if err != nil {
			panic(err)
		}
		for _, b := range [][]string{
			{"docker-machine-driver-sshhost", "../cmd/docker-machine-driver-sshhost"},
			{"docker-machine-driver-fakecloud", "../cmd/docker-machine-driver-fakecloud"},
			{"docker-machine-driver-fakecloud-old", "../cmd/docker-machine-driver-fakecloud", "-tags", "oldrpc"},
			{"fakecloud-api", "../cmd/fakecloud-api"},
		} {
			args := append([]string{"build", "-o", filepath.Join(dir, b[0])}, b[2:]...)
			cmd := exec.Command("go", append(args, b[1])...)
			cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
			if err := cmd.Run(); err != nil {
				panic(fmt.Sprintf("building %s: %s", b[0], err))
			}
		}
		binDir = dir
	}
	code := m.Run()
	if temporary {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// recorder keeps what the client reads from the server.
type recorder struct {
	net.Conn
	mu  sync.Mutex
	got bytes.Buffer
}

func (r *recorder) Read(p []byte) (int, error) {
	n, err := r.Conn.Read(p)
	r.mu.Lock()
	r.got.Write(p[:n])
	r.mu.Unlock()
	return n, err
}

func (r *recorder) take() []byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	b := append([]byte{}, r.got.Bytes()...)
	r.got.Reset()
	return b
}

type plugin struct {
	t      *testing.T
	cmd    *exec.Cmd
	addr   string
	stdout *bytes.Buffer
	mu     *sync.Mutex
	done   chan struct{}
	exited time.Time
}

// start runs a plugin binary as Docker Machine does and reads its address line.
func start(t *testing.T, name string) *plugin {
	t.Helper()
	cmd := exec.Command(filepath.Join(binDir, name))
	cmd.Env = append(os.Environ(), "MACHINE_PLUGIN_TOKEN=42")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &plugin{t: t, cmd: cmd, stdout: &bytes.Buffer{}, mu: &sync.Mutex{}, done: make(chan struct{})}
	lines := bufio.NewScanner(out)
	if !lines.Scan() {
		t.Fatalf("%s printed no address", name)
	}
	p.addr = lines.Text()
	go func() {
		for lines.Scan() {
			p.mu.Lock()
			p.stdout.WriteString(lines.Text() + "\n")
			p.mu.Unlock()
		}
		cmd.Wait()
		p.exited = time.Now()
		close(p.done)
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-p.done
	})
	return p
}

func (p *plugin) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stdout.String()
}

// dial is rpc.DialHTTP with the server's bytes recorded.
func (p *plugin) dial() (*rpc.Client, *recorder) {
	p.t.Helper()
	conn, err := net.Dial("tcp", p.addr)
	if err != nil {
		p.t.Fatal(err)
	}
	io.WriteString(conn, "CONNECT "+rpc.DefaultRPCPath+" HTTP/1.0\n\n")
	resp, err := http.ReadResponse(bufio.NewReader(conn), &http.Request{Method: "CONNECT"})
	if err != nil || resp.Status != "200 Connected to Go RPC" {
		p.t.Fatalf("CONNECT: %v %v", resp, err)
	}
	rec := &recorder{Conn: conn}
	c := rpc.NewClient(rec)
	p.t.Cleanup(func() { c.Close() })
	return c, rec
}

func call(t *testing.T, c *rpc.Client, method string, args, reply interface{}) {
	t.Helper()
	if err := c.Call("RPCServerDriver."+method, args, reply); err != nil {
		t.Fatalf("%s: %s", method, err)
	}
}

func callErr(c *rpc.Client, method string, args, reply interface{}) string {
	if err := c.Call("RPCServerDriver."+method, args, reply); err != nil {
		return err.Error()
	}
	return ""
}

func TestRefusesWithoutToken(t *testing.T) {
	cmd := exec.Command(filepath.Join(binDir, "docker-machine-driver-sshhost"))
	cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if e, ok := err.(*exec.ExitError); !ok || e.ExitCode() != 1 {
		t.Fatalf("exit: %v", err)
	}
	if stdout.Len() != 0 || !strings.Contains(stderr.String(), "Docker Machine") {
		t.Fatalf("stdout %q stderr %q", stdout.String(), stderr.String())
	}
}

func TestCreateFlagsOnTheWire(t *testing.T) {
	p := start(t, "docker-machine-driver-sshhost")
	c, rec := p.dial()
	var flags []mcnflag.Flag
	call(t, c, "GetCreateFlags", struct{}{}, &flags)
	wire := rec.take()
	for _, name := range []string{"*mcnflag.StringFlag", "*mcnflag.IntFlag", "*mcnflag.StringSliceFlag", "*mcnflag.BoolFlag"} {
		if !bytes.Contains(wire, []byte(name)) {
			t.Errorf("%s is not on the wire", name)
		}
	}
	// gob decodes into the registered pointer types, as Docker Machine's client gets them
	want := []mcnflag.Flag{
		&mcnflag.StringFlag{Name: "sshhost-ip-address", Usage: "IP address of the host", EnvVar: "SSHHOST_IP_ADDRESS"},
		&mcnflag.StringFlag{Name: "sshhost-ssh-user", Usage: "SSH user", EnvVar: "SSHHOST_SSH_USER", Value: "root"},
		&mcnflag.StringFlag{Name: "sshhost-ssh-key", Usage: "Path of the SSH private key that logs in", EnvVar: "SSHHOST_SSH_KEY"},
		&mcnflag.IntFlag{Name: "sshhost-ssh-port", Usage: "SSH port", EnvVar: "SSHHOST_SSH_PORT", Value: 22},
		&mcnflag.IntFlag{Name: "sshhost-engine-port", Usage: "Docker engine port", EnvVar: "SSHHOST_ENGINE_PORT", Value: 2376},
		&mcnflag.StringSliceFlag{Name: "sshhost-label", Usage: "A label for the host (repeatable)", EnvVar: "SSHHOST_LABEL"},
		&mcnflag.BoolFlag{Name: "sshhost-verbose", Usage: "Log more", EnvVar: "SSHHOST_VERBOSE"},
	}
	if !reflect.DeepEqual(flags, want) {
		t.Errorf("flags:\n%#v\nwant\n%#v", flags, want)
	}
	fixture("sshhost-GetCreateFlags-first-reply.gob", wire, t)

	// the same reply after a GetVersion on the connection: the rpc.Response type is known by then
	var version int
	c2, rec2 := p.dial()
	call(t, c2, "GetVersion", struct{}{}, &version)
	if version != 1 {
		t.Errorf("version %d", version)
	}
	rec2.take()
	call(t, c2, "GetCreateFlags", struct{}{}, &flags)
	fixture("sshhost-GetCreateFlags-after-GetVersion.gob", rec2.take(), t)
}

// fixture compares (or with UPDATE_FIXTURES=1 writes) testdata/NAME.
func fixture(name string, got []byte, t *testing.T) {
	t.Helper()
	path := filepath.Join("..", "testdata", name)
	if os.Getenv("UPDATE_FIXTURES") != "" {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%s (UPDATE_FIXTURES=1 writes it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs:\n got % x\nwant % x", name, got, want)
	}
}

func flagsFor(values map[string]interface{}) *drivers.DriverOptions {
	var opts drivers.DriverOptions = rpcdriver.RPCFlags{Values: values}
	return &opts
}

func TestSSHHostConfig(t *testing.T) {
	p := start(t, "docker-machine-driver-sshhost")
	c, rec := p.dial()
	store := t.TempDir()
	call(t, c, "SetConfigRaw", []byte(`{"MachineName":"m1","StorePath":"`+store+`"}`), nil)
	var name string
	call(t, c, "GetMachineName", struct{}{}, &name)
	if name != "m1" {
		t.Fatalf("machine name %q", name)
	}
	call(t, c, "DriverName", struct{}{}, &name)
	if name != "sshhost" {
		t.Fatalf("driver name %q", name)
	}

	values := map[string]interface{}{
		"sshhost-ip-address": "", "sshhost-ssh-user": "root", "sshhost-ssh-key": "", "sshhost-ssh-port": 22,
		"sshhost-engine-port": 2376, "sshhost-label": []string(nil), "sshhost-verbose": false,
		"swarm-master": false, "swarm-host": "", "swarm-discovery": "",
	}
	rec.take()
	if e := callErr(c, "SetConfigFromFlags", flagsFor(values), nil); e != "sshhost driver requires the --sshhost-ip-address option" {
		t.Fatalf("error %q", e)
	}

	// a listener stands for the host's sshd
	sshd, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := sshd.Addr().(*net.TCPAddr).Port
	key := filepath.Join(t.TempDir(), "key")
	os.WriteFile(key, []byte("PRIVATE KEY\n"), 0o644)
	values["sshhost-ip-address"] = "127.0.0.1"
	values["sshhost-ssh-port"] = port
	values["sshhost-ssh-key"] = key
	values["sshhost-ssh-user"] = "nick"
	values["sshhost-label"] = []string{"a=1", "b=2"}
	values["swarm-host"] = "tcp://0.0.0.0:3376"
	rec.take()
	call(t, c, "SetConfigFromFlags", flagsFor(values), nil)
	call(t, c, "PreCreateCheck", struct{}{}, nil)
	call(t, c, "Create", struct{}{}, nil)
	var keyPath string
	call(t, c, "GetSSHKeyPath", struct{}{}, &keyPath)
	if keyPath != filepath.Join(store, "machines", "m1", "id_rsa") {
		t.Fatalf("key path %q", keyPath)
	}
	if fi, err := os.Stat(keyPath); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key %v %v", fi, err)
	}
	var st state.State
	call(t, c, "GetState", struct{}{}, &st)
	if st != state.Running {
		t.Fatalf("state %v", st)
	}
	var url string
	call(t, c, "GetURL", struct{}{}, &url)
	if url != fmt.Sprintf("tcp://127.0.0.1:2376") {
		t.Fatalf("url %q", url)
	}
	if e := callErr(c, "Stop", struct{}{}, nil); e != "sshhost driver does not support stop" {
		t.Fatalf("stop: %q", e)
	}

	var raw []byte
	call(t, c, "GetConfigRaw", struct{}{}, &raw)
	var cfg map[string]interface{}
	json.Unmarshal(raw, &cfg)
	for k, v := range map[string]interface{}{
		"IPAddress": "127.0.0.1", "MachineName": "m1", "SSHUser": "nick", "SSHPort": float64(port),
		"SSHKeyPath": keyPath, "StorePath": store, "SwarmHost": "tcp://0.0.0.0:3376", "SSHKey": key,
		"EnginePort": float64(2376),
	} {
		if cfg[k] != v {
			t.Errorf("%s = %#v, want %#v (%s)", k, cfg[k], v, raw)
		}
	}

	// round trip into a fresh plugin
	p2 := start(t, "docker-machine-driver-sshhost")
	c2, _ := p2.dial()
	call(t, c2, "SetConfigRaw", raw, nil)
	var raw2 []byte
	call(t, c2, "GetConfigRaw", struct{}{}, &raw2)
	if !bytes.Equal(raw, raw2) {
		t.Fatalf("round trip:\n%s\n%s", raw, raw2)
	}
	t.Logf("sshhost GetConfigRaw: %s", raw)

	sshd.Close()
	call(t, c, "GetState", struct{}{}, &st)
	if st != state.Stopped {
		t.Fatalf("state %v", st)
	}
}

func TestOldPluginAnswersOnlyTheOldName(t *testing.T) {
	p := start(t, "docker-machine-driver-fakecloud-old")
	c, _ := p.dial()
	var version int
	if e := callErr(c, "GetVersion", struct{}{}, &version); !strings.Contains(e, "can't find service RPCServerDriver.GetVersion") {
		t.Fatalf("new name: %q", e)
	}
	if err := c.Call("RpcServerDriver.GetVersion", struct{}{}, &version); err != nil || version != 1 {
		t.Fatalf("old name: %v %d", err, version)
	}
	// the new flags type is unknown to it; the old one it takes
	err := c.Call("RpcServerDriver.SetConfigFromFlags", flagsFor(map[string]interface{}{}), nil)
	if err == nil {
		t.Fatal("an old plugin took *rpcdriver.RPCFlags")
	}
	t.Logf("old plugin on SetConfigFromFlags(*rpcdriver.RPCFlags): %s", err)
	c, _ = p.dial() // gob errors end the connection
	var opts drivers.DriverOptions = oldflags.RpcFlags{Values: map[string]interface{}{"fakecloud-api-url": "http://127.0.0.1:1"}}
	if err := c.Call("RpcServerDriver.SetConfigFromFlags", &opts, nil); err != nil {
		t.Fatalf("old plugin on SetConfigFromFlags(*rpcdriver.RpcFlags): %s", err)
	}
	var raw []byte
	if err := c.Call("RpcServerDriver.GetConfigRaw", struct{}{}, &raw); err != nil || !bytes.Contains(raw, []byte(`"APIURL":"http://127.0.0.1:1"`)) {
		t.Fatalf("old plugin's config: %s %v", raw, err)
	}

	// the new one answers under both
	p2 := start(t, "docker-machine-driver-fakecloud")
	c2, _ := p2.dial()
	for _, svc := range []string{"RpcServerDriver", "RPCServerDriver"} {
		if err := c2.Call(svc+".GetVersion", struct{}{}, &version); err != nil {
			t.Fatalf("%s: %s", svc, err)
		}
	}
}

func TestHeartbeatAndClose(t *testing.T) {
	t.Parallel()
	p := start(t, "docker-machine-driver-sshhost")
	c, _ := p.dial()
	var last time.Time
	for i := 0; i < 4; i++ {
		call(t, c, "Heartbeat", struct{}{}, nil)
		last = time.Now()
		time.Sleep(2 * time.Second)
	}
	select {
	case <-p.done:
	case <-time.After(15 * time.Second):
		t.Fatal("still running 15 s after the last heartbeat")
	}
	after := p.exited.Sub(last)
	if after < 9500*time.Millisecond || after > 11*time.Second {
		t.Fatalf("exited %s after the last heartbeat", after)
	}
	if code := p.cmd.ProcessState.ExitCode(); code != 1 {
		t.Fatalf("exit %d", code)
	}

	p2 := start(t, "docker-machine-driver-sshhost")
	c2, _ := p2.dial()
	c2.Call("RPCServerDriver.Close", struct{}{}, nil) // the process may exit before it answers
	select {
	case <-p2.done:
	case <-time.After(5 * time.Second):
		t.Fatal("still running after Close")
	}
	if code := p2.cmd.ProcessState.ExitCode(); code != 0 {
		t.Fatalf("exit %d after Close", code)
	}
}

type cloud struct {
	url, access, secret string
}

func (cl *cloud) get(t *testing.T, path string, out interface{}) int {
	req, _ := http.NewRequest("GET", cl.url+path, nil)
	req.Header.Set("X-Access-Key", cl.access)
	req.Header.Set("X-Secret-Key", cl.secret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	json.NewDecoder(resp.Body).Decode(out)
	return resp.StatusCode
}

func startCloud(t *testing.T, hostPort int, key string) *cloud {
	cmd := exec.Command(filepath.Join(binDir, "fakecloud-api"), "--access-key", "AK", "--secret-key", "SK",
		"--host-ip", "127.0.0.1", "--host-ssh-port", fmt.Sprint(hostPort), "--host-key-file", key)
	out, _ := cmd.StdoutPipe()
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	return &cloud{url: "http://" + strings.TrimSpace(line), access: "AK", secret: "SK"}
}

func TestFakeCloud(t *testing.T) {
	key := filepath.Join(t.TempDir(), "host_key")
	os.WriteFile(key, []byte("-----BEGIN OPENSSH PRIVATE KEY-----\nfake\n-----END OPENSSH PRIVATE KEY-----\n"), 0o600)
	cl := startCloud(t, 2222, key)
	var list []map[string]interface{}
	if code := (&cloud{url: cl.url, access: "AK", secret: "wrong"}).get(t, "/instances", &list); code != 401 {
		t.Fatalf("wrong keys: %d", code)
	}

	p := start(t, "docker-machine-driver-fakecloud")
	c, _ := p.dial()
	store := t.TempDir()
	call(t, c, "SetConfigRaw", []byte(`{"MachineName":"fc1","StorePath":"`+store+`"}`), nil)
	values := map[string]interface{}{
		"fakecloud-api-url": cl.url, "fakecloud-access-key": "AK", "fakecloud-secret-key": "nope",
		"fakecloud-key-pair-name": "machine", "fakecloud-ssh-user": "nick", "fakecloud-create-delay": 2,
		"fakecloud-fail-after-create": false, "fakecloud-tag": []string{"team=a"},
		"swarm-master": false, "swarm-host": "", "swarm-discovery": "",
	}
	call(t, c, "SetConfigFromFlags", flagsFor(values), nil)
	if e := callErr(c, "PreCreateCheck", struct{}{}, nil); e != "fakecloud: the access key and secret key were refused" {
		t.Fatalf("pre-create check: %q", e)
	}
	values["fakecloud-secret-key"] = "SK"
	call(t, c, "SetConfigFromFlags", flagsFor(values), nil)
	call(t, c, "PreCreateCheck", struct{}{}, nil)

	created := make(chan error, 1)
	go func() { created <- c.Call("RPCServerDriver.Create", struct{}{}, nil) }()
	// mid-create (the delay), the config already names the instance
	deadline := time.Now().Add(5 * time.Second)
	var mid map[string]interface{}
	for {
		var raw []byte
		call(t, c, "GetConfigRaw", struct{}{}, &raw)
		json.Unmarshal(raw, &mid)
		if mid["InstanceID"] != "" || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	select {
	case err := <-created:
		t.Fatalf("create returned before its delay: %v", err)
	default:
	}
	if mid["InstanceID"] != "i-000001" {
		t.Fatalf("mid-create config: %v", mid)
	}
	if err := <-created; err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(p.output(), "Creating instance...") {
		t.Errorf("stdout: %q", p.output())
	}
	var raw []byte
	call(t, c, "GetConfigRaw", struct{}{}, &raw)
	t.Logf("fakecloud GetConfigRaw after create: %s", raw)
	var keyPath, ip, url string
	var port int
	call(t, c, "GetSSHKeyPath", struct{}{}, &keyPath)
	call(t, c, "GetIP", struct{}{}, &ip)
	call(t, c, "GetSSHPort", struct{}{}, &port)
	call(t, c, "GetURL", struct{}{}, &url)
	if keyPath != filepath.Join(store, "machines", "fc1", "id_rsa") || ip != "127.0.0.1" || port != 2222 || url != "tcp://127.0.0.1:2376" {
		t.Fatalf("%q %q %d %q", keyPath, ip, port, url)
	}
	if b, err := os.ReadFile(keyPath); err != nil || !strings.Contains(string(b), "fake") {
		t.Fatalf("key %q %v", b, err)
	}
	if fi, _ := os.Stat(keyPath); fi.Mode().Perm() != 0o600 {
		t.Fatalf("key mode %v", fi.Mode())
	}

	var st state.State
	for _, step := range []struct {
		action string
		want   state.State
	}{{"", state.Running}, {"Stop", state.Stopped}, {"Start", state.Running}, {"Kill", state.Stopped}, {"Restart", state.Running}} {
		if step.action != "" {
			call(t, c, step.action, struct{}{}, nil)
		}
		call(t, c, "GetState", struct{}{}, &st)
		if st != step.want {
			t.Fatalf("after %q: %v", step.action, st)
		}
	}
	cl.get(t, "/instances", &list)
	if len(list) != 1 || list[0]["name"] != "fc1" || fmt.Sprint(list[0]["tags"]) != "[team=a]" {
		t.Fatalf("instances: %v", list)
	}

	call(t, c, "Remove", struct{}{}, nil)
	cl.get(t, "/instances", &list)
	if len(list) != 0 {
		t.Fatalf("instances after remove: %v", list)
	}
	if e := callErr(c, "GetState", struct{}{}, &st); e != "instance i-000001 not found" {
		t.Fatalf("state of a removed instance: %q", e)
	}
	call(t, c, "Remove", struct{}{}, nil)

	// fail-after-create: the instance exists and is recorded, create fails
	p2 := start(t, "docker-machine-driver-fakecloud")
	c2, _ := p2.dial()
	call(t, c2, "SetConfigRaw", []byte(`{"MachineName":"fc2","StorePath":"`+store+`"}`), nil)
	values["fakecloud-create-delay"] = 0
	values["fakecloud-fail-after-create"] = true
	call(t, c2, "SetConfigFromFlags", flagsFor(values), nil)
	if e := callErr(c2, "Create", struct{}{}, nil); !strings.Contains(e, "i-000002") {
		t.Fatalf("create: %q", e)
	}
	call(t, c2, "GetConfigRaw", struct{}{}, &raw)
	var cfg map[string]interface{}
	json.Unmarshal(raw, &cfg)
	if cfg["InstanceID"] != "i-000002" {
		t.Fatalf("config after a failed create: %s", raw)
	}
	call(t, c2, "Remove", struct{}{}, nil)
}
