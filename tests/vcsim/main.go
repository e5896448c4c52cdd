// vcsim: govmomi's vCenter simulator (the packaged `simulator` library) as a command, for the
// vSphere driver's tests. Built by tests/vcsim/build.sh from Debian's golang-github-vmware-govmomi-dev,
// with one fix (a VM powered on again reports its container's new address; see build.sh).
//
// It serves the vSphere Web Services API (/sdk) on -listen, over HTTPS with a fresh self-signed
// certificate when -tls is set (its PEM is written to -cert-out so tests can pin it), accepts only
// -username/-password when both are given, prints the server URL (without credentials) on stdout
// and to -url-out, and runs until SIGINT/SIGTERM.
//
// Shapes: "multi" is vcsim's default VPX model (a cluster besides the standalone host, a
// distributed port group besides "VM Network", -datastores datastores); "one" leaves exactly one
// datacenter, host, resource pool, datastore and network.
//
// VMs whose extraConfig holds RUN.container are backed by Docker containers on power-on; set
// VCSIM_BUSYBOX to an image with tar (the test-host image), see shared/testing/vsphere.md.
package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"flag"
	"fmt"
	"io/ioutil"
	"log"
	"math/big"
	"net"
	"net/url"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/vmware/govmomi/simulator"
)

func selfSigned() (tls.Certificate, []byte) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		log.Fatal(err)
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "vcsim", Organization: []string{"machine tests"}},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * 365 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  false,
		DNSNames:              []string{"localhost"},
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("::1")},
	}
	der, err := x509.CreateCertificate(rand.Reader, &tmpl, &tmpl, &key.PublicKey, key)
	if err != nil {
		log.Fatal(err)
	}
	keyDer, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		log.Fatal(err)
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDer})
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		log.Fatal(err)
	}
	return pair, certPEM
}

func main() {
	listen := flag.String("listen", "127.0.0.1:0", "address to listen on (port 0: any free port)")
	useTLS := flag.Bool("tls", false, "serve HTTPS with a fresh self-signed certificate")
	certOut := flag.String("cert-out", "", "write the certificate (PEM) here (with -tls)")
	urlOut := flag.String("url-out", "", "write the server URL here once listening")
	user := flag.String("username", "", "the only user name accepted (with -password)")
	pass := flag.String("password", "", "the only password accepted (with -username)")
	shape := flag.String("shape", "multi", "inventory shape: one (one of each) or multi (vcsim's default)")
	datastores := flag.Int("datastores", 1, "number of datastores (multi shape)")
	flag.Parse()

	model := simulator.VPX()
	switch *shape {
	case "one":
		model.Cluster = 0
		model.Portgroup = 0
		model.PortgroupNSX = 0
	case "multi":
		model.Datastore = *datastores
	default:
		log.Fatalf("unknown shape %q (one, multi)", *shape)
	}
	if err := model.Create(); err != nil {
		log.Fatal(err)
	}
	defer model.Remove()

	model.Service.Listen = &url.URL{Host: *listen}
	if *user != "" && *pass != "" {
		model.Service.Listen.User = url.UserPassword(*user, *pass)
	}
	if *useTLS {
		pair, certPEM := selfSigned()
		model.Service.TLS = &tls.Config{Certificates: []tls.Certificate{pair}}
		if *certOut != "" {
			if err := ioutil.WriteFile(*certOut, certPEM, 0o644); err != nil {
				log.Fatal(err)
			}
		}
	}
	server := model.Service.NewServer()
	defer server.Close()

	u := *server.URL
	u.User = nil
	if *urlOut != "" {
		if err := ioutil.WriteFile(*urlOut+".tmp", []byte(u.String()+"\n"), 0o644); err != nil {
			log.Fatal(err)
		}
		if err := os.Rename(*urlOut+".tmp", *urlOut); err != nil {
			log.Fatal(err)
		}
	}
	fmt.Println(u.String())

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	<-sig
}
