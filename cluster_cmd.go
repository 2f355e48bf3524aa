package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"time"

	"github.com/herald-webhooks/herald/config"
)

const clusterUsage = `usage:
  herald cluster status [--addr HOST:PORT]                  members, leader, removed nodes, each node's Raft state
  herald cluster remove [--addr HOST:PORT] NODE_ID          remove a node from the cluster for good
  herald cluster allow-rejoin [--addr HOST:PORT] NODE_ID    let a removed node join again

A removed node stays removed: its joins are refused, and if it is still
running it logs that it was removed and stops trying. Stop it (and, to
reuse the machine, wipe its data directory). To bring the same node id
back, run allow-rejoin first, then start it with --join.

The admin token comes from --token or HERALD_ADMIN_TOKEN; --addr is any
member's API address (default 127.0.0.1:8484).
`

// clusterCmd runs the cluster operations against a running node's API.
func clusterCmd(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, clusterUsage)
		return 2
	}
	fs := flag.NewFlagSet("cluster "+args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:8484", "API address of any member")
	token := fs.String("token", os.Getenv(config.AdminTokenEnv), "admin token (default $"+config.AdminTokenEnv+")")
	if err := fs.Parse(args[1:]); err != nil {
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
		method, path = http.MethodDelete, "/api/v1/cluster/node/"+url.PathEscape(fs.Arg(0))
	case args[0] == "allow-rejoin" && fs.NArg() == 1:
		method, path = http.MethodPost, "/api/v1/cluster/node/"+url.PathEscape(fs.Arg(0))+"/allow-rejoin"
	default:
		fmt.Fprint(stderr, clusterUsage)
		return 2
	}
	req, err := http.NewRequest(method, "http://"+*addr+path, nil)
	if err != nil {
		fmt.Fprintln(stderr, "herald cluster:", err)
		return 2
	}
	req.Header.Set("Authorization", "Bearer "+*token)
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
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
		if args[0] == "remove" {
			fmt.Fprintf(stdout, "node %s removed; it may not re-join until allowed (herald cluster allow-rejoin %s).\nStop it now: a node still running only logs that it was removed.\n", fs.Arg(0), fs.Arg(0))
		} else {
			fmt.Fprintf(stdout, "node %s may join again: start it with --join\n", fs.Arg(0))
		}
		return 0
	}
	var pretty bytes.Buffer
	if json.Indent(&pretty, body, "", "  ") == nil {
		body = pretty.Bytes()
	}
	fmt.Fprintf(stdout, "%s\n", body)
	return 0
}
