package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/parleyhq/parley/internal/testenv"
)

// testCA is a certificate authority made for one test, and a server
// certificate it signed for 127.0.0.1 and localhost.
type testCA struct {
	caFile     string // the CA certificate, PEM
	serverFile string // the server's chain and key, PEM, as HAProxy reads it
	pool       *x509.CertPool
}

func mustTestCA(t *testing.T) *testCA {
	t.Helper()
	dir := t.TempDir()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Parley test CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "localhost"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	c := &testCA{caFile: filepath.Join(dir, "ca.pem"), serverFile: filepath.Join(dir, "server.pem"), pool: x509.NewCertPool()}
	c.pool.AddCert(ca)
	caPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})
	server := append(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})...)
	if err := os.WriteFile(c.caFile, caPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(c.serverFile, server, 0o600); err != nil {
		t.Fatal(err)
	}
	return c
}

// TestClusterBehindTLS runs the official client, with its defaults and on
// WebSocket only, over https and wss through HAProxy terminating TLS with
// deploy/haproxy-tls.cfg in front of three nodes.
func TestClusterBehindTLS(t *testing.T) {
	plain, err := os.ReadFile("../../deploy/haproxy.cfg")
	if err != nil {
		t.Fatal(err)
	}
	withTLS, err := os.ReadFile("../../deploy/haproxy-tls.cfg")
	if err != nil {
		t.Fatal(err)
	}
	backend := func(cfg []byte) string { _, b, _ := strings.Cut(string(cfg), "\nbackend "); return b }
	if backend(plain) != backend(withTLS) {
		t.Error("the backend sections of deploy/haproxy.cfg and deploy/haproxy-tls.cfg differ")
	}

	ca := mustTestCA(t)
	pg, rd := testenv.MustPostgres(t), testenv.MustRedis(t)
	var addrs []string
	for i := range 3 {
		cfg := clusterConfig(t, pg, rd)
		cfg.Ops.NodeID = fmt.Sprint("node", i+1)
		addrs = append(addrs, MustRunMain(t, cfg).Addr())
	}
	lb := testenv.MustHAProxyTLS(t, "../../deploy/haproxy-tls.cfg", addrs, ca.serverFile)
	url := "https://" + lb.Addr()

	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.pool}}}
	resp, err := hc.Get(url + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.TLS == nil || resp.Header.Get("Strict-Transport-Security") == "" {
		t.Fatalf("GET %s/healthz: %s, TLS %v, HSTS %q", url, resp.Status, resp.TLS != nil, resp.Header.Get("Strict-Transport-Security"))
	}
	env := []string{"NODE_EXTRA_CA_CERTS=" + ca.caFile}
	for _, mode := range []string{"plain", "websocket"} {
		t.Run(mode, func(t *testing.T) { runChatAt(t, addrs[0], url, env, mode) })
	}
}
