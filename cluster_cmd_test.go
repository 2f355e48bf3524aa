package main

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestClusterCmdRoutes: each cluster subcommand calls its API route with
// the admin token, and remove tells the operator to stop the node.
func TestClusterCmdRoutes(t *testing.T) {
	var got []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = append(got, r.Method+" "+r.URL.EscapedPath()+" "+r.Header.Get("Authorization"))
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	addr := strings.TrimPrefix(srv.URL, "http://")
	tests := []struct {
		args       []string
		want, says string
	}{
		{[]string{"remove", "--addr", addr, "--token", "tok", "n3"}, "DELETE /api/v1/cluster/node/n3 Bearer tok", "Stop it now"},
		{[]string{"allow-rejoin", "--addr", addr, "--token", "tok", "n3"}, "POST /api/v1/cluster/node/n3/allow-rejoin Bearer tok", "may join again"},
	}
	for _, tc := range tests {
		got = nil
		var stdout, stderr bytes.Buffer
		if code := clusterCmd(tc.args, &stdout, &stderr); code != 0 {
			t.Fatalf("herald cluster %v = %d: %s", tc.args, code, stderr.String())
		}
		if len(got) != 1 || got[0] != tc.want {
			t.Errorf("herald cluster %v called %q, want %q", tc.args, got, tc.want)
		}
		if !strings.Contains(stdout.String(), tc.says) {
			t.Errorf("herald cluster %v says %q, want it to contain %q", tc.args, stdout.String(), tc.says)
		}
	}
	var stderr bytes.Buffer
	if code := clusterCmd(nil, &bytes.Buffer{}, &stderr); code != 2 || !strings.Contains(stderr.String(), "allow-rejoin") {
		t.Errorf("usage: %d %q", code, stderr.String())
	}
}
