package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/herald-webhooks/herald/certs/certstest"
)

// TestValidateTLS: the TLS settings come as a whole, and their files must
// load at start, with errors that name the key and the file.
func TestValidateTLS(t *testing.T) {
	ca := certstest.NewCA(t, "test-ca")
	pair, other := ca.Issue("", "node1"), ca.Issue("", "node2")
	garbage := filepath.Join(t.TempDir(), "garbage.pem")
	if err := os.WriteFile(garbage, []byte("not a certificate\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	unreadable := filepath.Join(t.TempDir(), "unreadable.pem")
	if err := os.WriteFile(unreadable, nil, 0o000); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		tls     TLSConfig
		wantErr string // empty: valid
	}{
		{"off", TLSConfig{}, ""},
		{"cert and key", TLSConfig{CertFile: pair.CertFile, KeyFile: pair.KeyFile}, ""},
		{"with ca", TLSConfig{CertFile: pair.CertFile, KeyFile: pair.KeyFile, CAFile: ca.File}, ""},
		{"cert without key", TLSConfig{CertFile: pair.CertFile}, "tls.key_file: must be set when tls.cert_file is"},
		{"key without cert", TLSConfig{KeyFile: pair.KeyFile}, "tls.cert_file: must be set when tls.key_file is"},
		{"ca alone", TLSConfig{CAFile: ca.File}, "tls.ca_file: needs tls.cert_file and tls.key_file"},
		{"missing cert", TLSConfig{CertFile: "/nonexistent/cert.pem", KeyFile: pair.KeyFile},
			"tls.cert_file: read TLS certificate: open /nonexistent/cert.pem: no such file"},
		{"missing key", TLSConfig{CertFile: pair.CertFile, KeyFile: "/nonexistent/key.pem"},
			"tls.cert_file: read TLS key: open /nonexistent/key.pem"},
		{"key of another cert", TLSConfig{CertFile: pair.CertFile, KeyFile: other.KeyFile},
			"tls.cert_file: TLS certificate " + pair.CertFile + " and key " + other.KeyFile + ": tls: private key does not match public key"},
		{"not pem", TLSConfig{CertFile: garbage, KeyFile: pair.KeyFile}, "tls.cert_file: TLS certificate " + garbage},
		{"missing ca", TLSConfig{CertFile: pair.CertFile, KeyFile: pair.KeyFile, CAFile: "/nonexistent/ca.pem"},
			"tls.ca_file: read TLS CA file: open /nonexistent/ca.pem"},
		{"ca not pem", TLSConfig{CertFile: pair.CertFile, KeyFile: pair.KeyFile, CAFile: garbage},
			"tls.ca_file: TLS CA file " + garbage + ": no PEM certificate found"},
	}
	if os.Geteuid() != 0 { // root reads any file
		tests = append(tests, struct {
			name    string
			tls     TLSConfig
			wantErr string
		}{"unreadable ca", TLSConfig{CertFile: pair.CertFile, KeyFile: pair.KeyFile, CAFile: unreadable}, "permission denied"})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Default()
			c.TLS = tt.tls
			err := c.Validate()
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tt.wantErr != "" && err == nil:
				t.Fatalf("no error, want %q", tt.wantErr)
			case tt.wantErr != "" && !strings.Contains(err.Error(), tt.wantErr):
				t.Fatalf("error %q does not contain %q", err, tt.wantErr)
			}
		})
	}
}

// TestParseTLS: the file sets the TLS keys, flags win over it, and the
// scheme of the API follows.
func TestParseTLS(t *testing.T) {
	ca := certstest.NewCA(t, "test-ca")
	inFile, onFlag := ca.Issue("", "file"), ca.Issue("", "flag")
	file := writeConfig(t, "[tls]\ncert_file = \""+inFile.CertFile+"\"\nkey_file = \""+inFile.KeyFile+"\"\nca_file = \""+ca.File+"\"\n")

	c, err := Parse([]string{"--config", file}, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := TLSConfig{CertFile: inFile.CertFile, KeyFile: inFile.KeyFile, CAFile: ca.File}
	if c.TLS != want {
		t.Errorf("from the file: got %+v, want %+v", c.TLS, want)
	}
	wantEq(t, "APIScheme()", c.APIScheme(), "https")

	c, err = Parse([]string{"--config", file, "--tls-cert-file", onFlag.CertFile, "--tls-key-file", onFlag.KeyFile}, nil)
	if err != nil {
		t.Fatal(err)
	}
	want = TLSConfig{CertFile: onFlag.CertFile, KeyFile: onFlag.KeyFile, CAFile: ca.File}
	if c.TLS != want {
		t.Errorf("flags over the file: got %+v, want %+v", c.TLS, want)
	}

	c, err = Parse([]string{"--config", file, "--tls-cert-file=", "--tls-key-file=", "--tls-ca-file="}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.TLS != (TLSConfig{}) {
		t.Errorf("empty flags should turn TLS off, got %+v", c.TLS)
	}
	wantEq(t, "APIScheme()", c.APIScheme(), "http")

	_, err = Parse([]string{"--tls-cert-file", onFlag.CertFile}, nil)
	if err == nil || !strings.Contains(err.Error(), "tls.key_file: must be set") {
		t.Errorf("a certificate flag without a key: %v", err)
	}
}
