package registry

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"net"
	"strings"
	"testing"
	"time"
)

// selfSigned makes a certificate for 127.0.0.1 and a pool that trusts it.
func selfSigned(t *testing.T) (tls.Certificate, *x509.CertPool) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "registry test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, IsCA: true, BasicConstraintsValid: true,
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: cert}, pool
}

// TestTLSAndToken: the API over TLS with a shared token; followers forward to the leader over
// TLS too; clients without the token, or without TLS, are refused.
func TestTLSAndToken(t *testing.T) {
	cert, pool := selfSigned(t)
	const token = "s3cret"
	c := newCluster(t, 3, raceTiming, func(cfg *Config) {
		cfg.TLS = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		cfg.PeerTLS = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
		cfg.AuthToken = token
	})
	follower := c.nodes[(c.leader()+1)%3].apiAddr
	ctx := context.Background()
	ids := []ClaimID{{ID: IDOfString("x"), EventTime: 1}}

	good, err := Dial([]string{follower}, WithTLS(&tls.Config{RootCAs: pool}), WithAuthToken(token))
	if err != nil {
		t.Fatal(err)
	}
	defer good.Close()
	res, err := good.Claim(ctx, Token{Pipeline: "p"}, ids)
	if err != nil || res[0].Outcome != Won {
		t.Fatalf("claim with TLS and token through a follower: %v %+v", err, res)
	}

	noToken, err := Dial([]string{follower}, WithTLS(&tls.Config{RootCAs: pool}))
	if err != nil {
		t.Fatal(err)
	}
	defer noToken.Close()
	if _, err := noToken.Claim(ctx, Token{Pipeline: "q"}, ids); !errors.Is(err, ErrUnauthenticated) {
		t.Fatalf("claim without token: %v, want ErrUnauthenticated", err)
	}
	wrong, err := Dial([]string{follower}, WithTLS(&tls.Config{RootCAs: pool}), WithAuthToken("guess"))
	if err != nil {
		t.Fatal(err)
	}
	defer wrong.Close()
	if _, err := wrong.Claim(ctx, Token{Pipeline: "q"}, ids); !errors.Is(err, ErrUnauthenticated) {
		t.Fatalf("claim with a wrong token: %v, want ErrUnauthenticated", err)
	}
	plain, err := Dial([]string{follower}, WithAuthToken(token), WithCallTimeout(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	if _, err := plain.Claim(ctx, Token{Pipeline: "q"}, ids); err == nil {
		t.Fatal("plaintext claim against a TLS API succeeded")
	}
}

func TestConfigValidate(t *testing.T) {
	err := (&Config{Bootstrap: true, Join: []string{"x"}, Retention: -1, LogLevel: "loud",
		HeartbeatTimeout: time.Second, LeaderLeaseTimeout: 2 * time.Second, MaxEntryIDs: 1, MaxInflight: 1}).Validate()
	for _, want := range []string{"ID is required", "RaftAddr is required", "DataDir is required",
		"exclude each other", "Retention", "LeaderLeaseTimeout", "LogLevel"} {
		if err == nil || !contains(err.Error(), want) {
			t.Errorf("Validate() = %v, want it to mention %q", err, want)
		}
	}
	if _, err := Dial(nil, WithLease(0), WithRetention(time.Hour)); err == nil ||
		!contains(err.Error(), "WithLease") || !contains(err.Error(), "no addresses") || !contains(err.Error(), "StartEmbedded") {
		t.Errorf("Dial options: %v", err)
	}
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }
