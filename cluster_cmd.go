package main

import (
	"bytes"
	"crypto/tls"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/herald-webhooks/herald/certs"
	"github.com/herald-webhooks/herald/config"
)

const clusterUsage = `usage:
  herald cluster status [flags]            members, leader and each node's Raft state
  herald cluster remove [flags] NODE_ID    remove a node from the cluster

flags:
  --addr HOST:PORT or URL     any member's API (default 127.0.0.1:8484)
  --token TOKEN               admin token (default $HERALD_ADMIN_TOKEN)
  --ca FILE                   PEM CA bundle that signed the node's certificate
  --insecure-skip-verify      do not verify the node's certificate (testing only)

A node with TLS (tls.cert_file) serves HTTPS: give --ca (or, when its
certificate is from a public CA, --addr https://HOST:PORT).
`

// clusterCmd runs the cluster operations against a running node's API.
func clusterCmd(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, clusterUsage)
		return 2
	}
	fs := flag.NewFlagSet("cluster "+args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:8484", "API address (host:port) or URL of any member")
	token := fs.String("token", os.Getenv(config.AdminTokenEnv), "admin token (default $"+config.AdminTokenEnv+")")
	caFile := fs.String("ca", "", "PEM CA bundle that signed the node's certificate (implies https)")
	insecure := fs.Bool("insecure-skip-verify", false, "use https without verifying the node's certificate (testing only)")
	if err := fs.Parse(args[1:]); err != nil {
		return 2
	}
	base, client, err := apiClient(*addr, *caFile, *insecure)
	if err != nil {
		fmt.Fprintln(stderr, "herald cluster:", err)
		return 2
	}
	if *token == "" {
		fmt.Fprintln(stderr, "herald cluster: an admin token is needed (--token or "+config.AdminTokenEnv+")")
		return 2
	}
	var method, path string
	switch {
	case args[0] == "status" && fs.NArg() == 0:
		method, path = http.MethodGet, "/api/v1/cluster"
	case args[0] == "remove" && fs.NArg() == 1:
		method, path = http.MethodDelete, "/api/v1/cluster/node/"+fs.Arg(0)
	default:
		fmt.Fprint(stderr, clusterUsage)
		return 2
	}
	req, err := http.NewRequest(method, base+path, nil)
	if err != nil {
		fmt.Fprintln(stderr, "herald cluster:", err)
		return 2
	}
	req.Header.Set("Authorization", "Bearer "+*token)
	resp, err := client.Do(req)
	if err != nil {
		fmt.Fprintln(stderr, "herald cluster:", err)
		return 1
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode/100 != 2 {
		fmt.Fprintf(stderr, "herald cluster: %s: %s\n", resp.Status, bytes.TrimSpace(body))
		return 1
	}
	if len(body) == 0 {
		fmt.Fprintf(stdout, "node %s removed\n", fs.Arg(0))
		return 0
	}
	var pretty bytes.Buffer
	if json.Indent(&pretty, body, "", "  ") == nil {
		body = pretty.Bytes()
	}
	fmt.Fprintf(stdout, "%s\n", body)
	return 0
}

// apiClient returns the base URL of the node at addr (host:port, or a URL
// with its scheme) and a client for it: https when a CA or
// insecureSkipVerify is given, or the URL says so.
func apiClient(addr, caFile string, insecureSkipVerify bool) (string, *http.Client, error) {
	scheme, host := "http", addr
	if caFile != "" || insecureSkipVerify {
		scheme = "https"
	}
	if s, h, ok := strings.Cut(addr, "://"); ok {
		if s != "http" && s != "https" {
			return "", nil, fmt.Errorf("--addr %q: want http:// or https://", addr)
		}
		if s == "http" && scheme == "https" {
			return "", nil, fmt.Errorf("--addr %q: --ca and --insecure-skip-verify need https", addr)
		}
		scheme, host = s, strings.TrimSuffix(h, "/")
	}
	client := &http.Client{Timeout: 30 * time.Second}
	if scheme == "https" {
		cfg := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: insecureSkipVerify}
		if caFile != "" {
			pool, err := certs.LoadCAs(caFile)
			if err != nil {
				return "", nil, err
			}
			cfg.RootCAs = pool
		}
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.TLSClientConfig = cfg
		client.Transport = tr
	}
	return scheme + "://" + host, client, nil
}
