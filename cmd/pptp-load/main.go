// Command pptp-load is a PPTP load generator: it opens many real client
// sessions against a server from one process and reports how they fared.
//
//	pptp-load [flags] SERVER[:PORT]
//
// Each session is a full client (control connection, GRE, LCP, MS-CHAP-v2,
// CCP/MPPE, IPCP, LCP echo) built from the same packages as pptp, without
// a TUN device: it pings the server's tunnel address with packets it makes
// and checks itself. The report ends with one line of the form
//
//	sessions: up=N failed=M setup_p50=...ms setup_p99=...ms rate=.../s pings_lost=K
//
// Exit status: 0 when every session came up, none was lost and every ping
// was answered; 1 otherwise; 2 for a bad command line. It needs
// CAP_NET_RAW for the raw GRE socket.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/gopptp/gopptp/loadgen"
)

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cfg, err := loadgen.ParseFlags(args, stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintf(stderr, "pptp-load: %v\n%s", err, "run pptp-load -h for the flags\n")
		return 2
	}
	level := slog.LevelWarn
	if cfg.Debug {
		level = slog.LevelDebug
	}
	cfg.Log = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	cfg.ProgressOut = stderr

	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	res, err := loadgen.Run(ctx, cfg)
	if err != nil {
		fmt.Fprintf(stderr, "pptp-load: %v\n", err)
		return 1
	}
	res.Report(stdout)
	if !res.OK() {
		return 1
	}
	return 0
}
