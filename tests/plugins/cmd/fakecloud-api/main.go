// fakecloud-api is a small stateful cloud API for the fakecloud driver's tests. Every instance
// it makes "is" the one test host given on the command line (its IP and SSH port) and comes
// with the private key that logs in to it, as a cloud hands out a new key pair.
//
//	fakecloud-api --access-key A --secret-key S --host-ip IP --host-ssh-port P --host-key-file PATH
//
// It listens on 127.0.0.1 (a free port) and prints its address, 127.0.0.1:PORT, as the first
// line on stdout; it logs requests on stderr. Every request must carry the headers
// X-Access-Key and X-Secret-Key (else 401). JSON in and out; errors are {"error": "..."}.
//
//	POST   /instances                  {"name", "tags"} -> 201 {"id", "name", "state", "tags", "ip", "ssh_port", "private_key"}
//	GET    /instances                  -> [{"id", "name", "state", "tags", "ip", "ssh_port"}] (removed ones are gone)
//	GET    /instances/ID               -> {"id", "name", "state", "tags", "ip", "ssh_port"} or 404
//	POST   /instances/ID/start|restart -> the instance, state "running"
//	POST   /instances/ID/stop|kill     -> the instance, state "stopped"
//	DELETE /instances/ID               -> 204, or 404 when there is no such instance
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"sort"
	"strings"
	"sync"
)

type instance struct {
	ID         string   `json:"id"`
	Name       string   `json:"name"`
	State      string   `json:"state"`
	Tags       []string `json:"tags"`
	IP         string   `json:"ip"`
	SSHPort    int      `json:"ssh_port"`
	PrivateKey string   `json:"private_key,omitempty"`
}

type api struct {
	accessKey, secretKey string
	hostIP               string
	hostPort             int
	privateKey           string

	mu        sync.Mutex
	next      int
	instances map[string]*instance
}

func main() {
	a := &api{instances: map[string]*instance{}}
	keyFile := ""
	flag.StringVar(&a.accessKey, "access-key", "", "the access key requests must carry")
	flag.StringVar(&a.secretKey, "secret-key", "", "the secret key requests must carry")
	flag.StringVar(&a.hostIP, "host-ip", "", "the IP address of the test host every instance is")
	flag.IntVar(&a.hostPort, "host-ssh-port", 22, "the test host's SSH port")
	flag.StringVar(&keyFile, "host-key-file", "", "the private key that logs in to the test host")
	flag.Parse()
	if a.accessKey == "" || a.secretKey == "" || a.hostIP == "" || keyFile == "" {
		fmt.Fprintln(os.Stderr, "fakecloud-api: --access-key, --secret-key, --host-ip and --host-key-file are required")
		os.Exit(2)
	}
	key, err := os.ReadFile(keyFile)
	if err != nil {
		fmt.Fprintf(os.Stderr, "fakecloud-api: %s\n", err)
		os.Exit(1)
	}
	a.privateKey = string(key)

	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintf(os.Stderr, "fakecloud-api: %s\n", err)
		os.Exit(1)
	}
	fmt.Println(listener.Addr())
	log.SetPrefix("[fakecloud-api] ")
	log.Fatal(http.Serve(listener, a))
}

func reply(w http.ResponseWriter, status int, body interface{}) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	if body != nil {
		json.NewEncoder(w).Encode(body)
	}
}

func fail(w http.ResponseWriter, status int, format string, args ...interface{}) {
	reply(w, status, map[string]string{"error": fmt.Sprintf(format, args...)})
}

// public is the instance without its private key (only the create answer carries it).
func (i *instance) public() instance {
	c := *i
	c.PrivateKey = ""
	c.Tags = append([]string{}, i.Tags...)
	return c
}

func (a *api) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	log.Printf("%s %s", r.Method, r.URL.Path)
	if r.Header.Get("X-Access-Key") != a.accessKey || r.Header.Get("X-Secret-Key") != a.secretKey {
		fail(w, http.StatusUnauthorized, "the access key and secret key were refused")
		return
	}
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	if parts[0] != "instances" || len(parts) > 3 {
		fail(w, http.StatusNotFound, "no such endpoint: %s %s", r.Method, r.URL.Path)
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	switch {
	case len(parts) == 1 && r.Method == http.MethodGet:
		list := []instance{}
		for _, i := range a.instances {
			list = append(list, i.public())
		}
		sort.Slice(list, func(x, y int) bool { return list[x].ID < list[y].ID })
		reply(w, http.StatusOK, list)
	case len(parts) == 1 && r.Method == http.MethodPost:
		var req struct {
			Name string   `json:"name"`
			Tags []string `json:"tags"`
		}
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			fail(w, http.StatusBadRequest, "bad request body: %s", err)
			return
		}
		if req.Name == "" {
			fail(w, http.StatusBadRequest, "an instance needs a name")
			return
		}
		a.next++
		i := &instance{
			ID:         fmt.Sprintf("i-%06d", a.next),
			Name:       req.Name,
			State:      "running",
			Tags:       append([]string{}, req.Tags...),
			IP:         a.hostIP,
			SSHPort:    a.hostPort,
			PrivateKey: a.privateKey,
		}
		a.instances[i.ID] = i
		log.Printf("created %s (%s)", i.ID, i.Name)
		reply(w, http.StatusCreated, i)
	default:
		id := parts[1]
		i, ok := a.instances[id]
		if !ok {
			fail(w, http.StatusNotFound, "instance %s not found", id)
			return
		}
		switch {
		case len(parts) == 2 && r.Method == http.MethodGet:
			reply(w, http.StatusOK, i.public())
		case len(parts) == 2 && r.Method == http.MethodDelete:
			delete(a.instances, id)
			log.Printf("removed %s", id)
			reply(w, http.StatusNoContent, nil)
		case len(parts) == 3 && r.Method == http.MethodPost:
			switch parts[2] {
			case "start", "restart":
				i.State = "running"
			case "stop", "kill":
				i.State = "stopped"
			default:
				fail(w, http.StatusNotFound, "no such action: %s", parts[2])
				return
			}
			reply(w, http.StatusOK, i.public())
		default:
			fail(w, http.StatusMethodNotAllowed, "%s %s is not supported", r.Method, r.URL.Path)
		}
	}
}
