package appliance_test

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/herald-webhooks/herald/config"
)

// TestIdleConnectionsCloseSilently: a connection on which nothing arrived
// before api.read_timeout (new, or kept alive after a response) is closed
// without a byte, because any answer would be read as the reply to a
// request the client sends at that moment; a request that started but did
// not finish in time is answered 408, never 400.
func TestIdleConnectionsCloseSilently(t *testing.T) {
	t.Parallel()
	const timeout = 300 * time.Millisecond
	n := startNode(t, func(c *config.Config) {
		c.API.ReadTimeout = config.Duration{Duration: timeout}
		c.API.IdleTimeout = config.Duration{Duration: timeout}
	})
	health := "GET /api/v1/health HTTP/1.1\r\nHost: x\r\n\r\n"
	msg := "POST /api/v1/app/app_x/msg HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + testToken + "\r\n"
	cases := []struct {
		name    string
		first   string // a complete request answered before the idle part, or ""
		partial string // sent after it, never completed
		status  int    // 0: the connection must close with no byte sent
	}{
		{"new connection sends nothing", "", "", 0},
		{"keep-alive connection idle after a response", health, "", 0},
		{"headers cut short", "", msg, http.StatusRequestTimeout},
		{"body cut short", "", msg + "Content-Length: 100\r\n\r\n{\"eventType\":", http.StatusRequestTimeout},
		{"chunked body cut short", "", msg + "Transfer-Encoding: chunked\r\n\r\n20\r\n{\"eventType\":", http.StatusRequestTimeout},
		{"keep-alive then headers cut short", health, msg, http.StatusRequestTimeout},
		{"keep-alive then body cut short", health, msg + "Content-Length: 100\r\n\r\n{", http.StatusRequestTimeout},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			conn, err := net.Dial("tcp", n.HTTPAddr())
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			// Bounds the test, far past the server's timeout.
			if err := conn.SetDeadline(time.Now().Add(10 * time.Second)); err != nil {
				t.Fatal(err)
			}
			br := bufio.NewReader(conn)
			if tc.first != "" {
				if _, err := io.WriteString(conn, tc.first); err != nil {
					t.Fatal(err)
				}
				resp, err := http.ReadResponse(br, nil)
				if err != nil {
					t.Fatalf("first request: %v", err)
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusNoContent {
					t.Fatalf("first request: status %d", resp.StatusCode)
				}
			}
			if _, err := io.WriteString(conn, tc.partial); err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			rest, err := io.ReadAll(br) // until the server closes
			if ne := net.Error(nil); errors.As(err, &ne) && ne.Timeout() {
				t.Fatalf("connection still open %v after going idle (read timeout %v)", time.Since(start), timeout)
			}
			if time.Since(start) < timeout/2 {
				t.Errorf("closed after %v, before the read timeout of %v", time.Since(start), timeout)
			}
			if tc.status == 0 {
				if len(rest) != 0 {
					t.Fatalf("idle connection got %q before closing, want nothing", rest)
				}
				return
			}
			resp, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(rest)), nil)
			if err != nil {
				t.Fatalf("want a %d answer, got %q (%v)", tc.status, rest, err)
			}
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tc.status || !strings.Contains(string(body), `"code":"request_timeout"`) {
				t.Fatalf("answer %d %s, want %d request_timeout", resp.StatusCode, body, tc.status)
			}
		})
	}
}
