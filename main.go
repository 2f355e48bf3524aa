// Command herald is a self-hosted webhook delivery appliance: one binary with
// embedded storage, a Svix-compatible API and Raft replication.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/rs/zerolog"

	"github.com/herald-webhooks/herald/appliance"
	"github.com/herald-webhooks/herald/config"
)

// version is set at link time (make build).
var version = "dev"

const usage = `usage:
  herald serve [flags]    run a node (herald serve -h lists the flags)
  herald cluster ...      cluster status, node removal and re-admission (herald cluster for help)
  herald listen [flags]   a local webhook receiver that prints and verifies deliveries
  herald backup ...       an online backup of a running cluster (herald backup for help)
  herald restore ...      a new node's data directory from a backup
  herald version          print the version
`

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "version", "--version", "-v":
		fmt.Fprintf(stdout, "herald %s\n", version)
		return 0
	case "serve":
		return serve(args[1:], stdout, stderr)
	case "cluster":
		return clusterCmd(args[1:], stdout, stderr)
	case "listen":
		return listenCmd(args[1:], stdout, stderr)
	case "backup":
		return backupCmd(args[1:], stdout, stderr)
	case "restore":
		return restoreCmd(args[1:], stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	}
	fmt.Fprintf(stderr, "herald: unknown command %q\n\n%s", args[0], usage)
	return 2
}

func serve(args []string, stdout, stderr io.Writer) int {
	cfg, err := config.Parse(args, os.Getenv)
	if err != nil {
		var ue *config.UsageError
		if errors.As(err, &ue) && errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(stdout, ue.Usage)
			return 0
		}
		fmt.Fprintf(stderr, "herald: %v\n", err)
		return 2
	}
	log := newLogger(cfg.Log, stderr)
	tuneProcs(cfg.ProcsPerCPU, log)
	appliance.Version = version
	log.Info().Str("version", version).Str("data_dir", cfg.DataDir).Msg("starting")

	// HUP reloads the TLS certificate and key; a pair that does not load
	// leaves the one in use serving. Caught from before the API listens:
	// a HUP that came between the two would otherwise kill the process.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	app, err := appliance.Open(cfg, appliance.Options{TokenOut: stdout}, log)
	if err != nil {
		log.Error().Err(err).Msg("start failed")
		return 1
	}
	go func() {
		for range hup {
			if !cfg.TLS.Enabled() {
				log.Info().Msg("SIGHUP ignored: no TLS certificate to reload")
			} else if err := app.ReloadTLS(); err != nil {
				log.Error().Err(err).Msg("TLS reload on SIGHUP failed: keeping the certificate in use")
			}
		}
	}()

	// TERM and INT drain: deliveries in flight finish (a node alone stops
	// its intake first), a leader hands over, then the API, Raft and
	// storage close in that order.
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	s := <-sig
	log.Info().Str("signal", s.String()).Msg("shutting down")
	// The exit is bounded whatever the peers do: past the drain timeout
	// plus shutdownMargin, Close abandons what is left (logging it) and
	// the process exits 1.
	ctx, cancel := context.WithTimeout(context.Background(), cfg.Delivery.DrainTimeout.Duration+shutdownMargin)
	defer cancel()
	if err := app.Close(ctx); err != nil {
		log.Error().Err(err).Msg("shutdown failed")
		return 1
	}
	return 0
}

// shutdownMargin is how long shutdown may take beyond the drain timeout:
// the leadership handover, the API's requests in progress, Raft and the
// stores. A Raft shutdown can wait on peers that stopped answering (each
// RPC in flight up to the transport's 10 s timeout), so the margin is
// generous, but fixed.
const shutdownMargin = 15 * time.Second

// newLogger builds the root logger; each component adds its own
// component field.
func newLogger(c config.LogConfig, w io.Writer) zerolog.Logger {
	level, err := zerolog.ParseLevel(c.Level)
	if err != nil {
		level = zerolog.InfoLevel
	}
	zerolog.TimeFieldFormat = time.RFC3339Nano
	if c.Format == "console" {
		w = zerolog.ConsoleWriter{Out: w, TimeFormat: time.RFC3339}
	}
	return zerolog.New(w).Level(level).With().Timestamp().Logger()
}
