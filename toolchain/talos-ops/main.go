// Command talos-ops is what the project asks of the Talos machine API beyond the Talos
// provider, on Talos's own client library (github.com/siderolabs/talos/pkg/machinery):
//
//	talos-ops upgrade --node <ip> --endpoint <ip> --image <installer>:vX.Y.Z [--timeout 10m] [--stage] <talosconfig
//	talos-ops etcd-snapshot --node <ip> --endpoint <ip> <talosconfig >etcd.db
//	talos-ops etcd-recover --node <ip> --endpoint <ip> --snapshot <file> <talosconfig
//
// upgrade upgrades one node to the version of an installer image, the one thing the Talos
// Pulumi provider cannot do (the stack runs it once per node, control planes first, one at a
// time; see upgrade.go). etcd-snapshot streams the node's etcd snapshot (MachineService
// EtcdSnapshot) to stdout; etcd-recover uploads a snapshot (EtcdRecover) and bootstraps etcd
// from it (Bootstrap with recover_etcd); `npm run etcd-backup` and `npm run etcd-restore` run
// them (see etcd.go).
//
// The talosconfig (YAML as talos.client.getConfiguration renders it) comes from stdin and
// nowhere else: it carries the client's private key, which must never sit in a file or on a
// command line. A failure prints one line on stderr and exits 1 (2 for a bad invocation).
// --endpoint defaults to --node.
package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"regexp"
	"strconv"
	"strings"

	"github.com/siderolabs/talos/pkg/machinery/client"
	clientconfig "github.com/siderolabs/talos/pkg/machinery/client/config"
	"golang.org/x/term"
)

const usage = `usage: talos-ops <command> [flags] <talosconfig
  talos-ops upgrade --node <ip> --endpoint <ip> --image <installer image>:vX.Y.Z [--timeout 10m] [--stage] <talosconfig
  talos-ops etcd-snapshot --node <ip> --endpoint <ip> <talosconfig >etcd.db
  talos-ops etcd-recover --node <ip> --endpoint <ip> --snapshot <file> <talosconfig`

// subcommand is one command of the tool, holding its own flags' values.
type subcommand interface {
	// flags adds the command's own flags to fs (--node and --endpoint are common).
	flags(fs *flag.FlagSet)
	// check validates the command's flags once the command line is parsed, before stdin is
	// read. An error is a bad invocation (exit 2, with the usage).
	check(t target, stdout io.Writer) error
	// run does the work; its outputs are stdout's (the tool's messages, or the snapshot).
	run(ctx context.Context, t target, tc *talosconfig, stdout io.Writer) error
}

var commands = map[string]struct {
	usage string
	new   func() subcommand
}{
	"upgrade":       {upgradeUsage, func() subcommand { return &upgradeCmd{} }},
	"etcd-snapshot": {etcdSnapshotUsage, func() subcommand { return &etcdSnapshotCmd{} }},
	"etcd-recover":  {etcdRecoverUsage, func() subcommand { return &etcdRecoverCmd{} }},
}

// target is the node a command acts on and the apid it dials.
type target struct {
	node     string // the node, sent as gRPC metadata "node"
	endpoint string // the apid dialled (port 50000 unless given)
}

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// run is the whole tool, minus the process: tests call it with their own stdin and outputs.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprintln(stderr, "talos-ops: no command ("+oneLine(errors.New(usage))+")")

		return 2
	}

	switch args[0] {
	case "-h", "-help", "--help", "help":
		fmt.Fprintln(stdout, usage)

		return 0
	}

	entry, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "talos-ops: unknown command %q (%s)\n", args[0], oneLine(errors.New(usage)))

		return 2
	}

	name, cmd := args[0], entry.new()
	fail := func(code int, err error) int {
		fmt.Fprintln(stderr, "talos-ops "+name+":", oneLine(err))

		return code
	}

	fs := flag.NewFlagSet("talos-ops "+name, flag.ContinueOnError)
	fs.SetOutput(io.Discard) // errors are reported by run, on one line

	var t target
	fs.StringVar(&t.node, "node", "", "IP of the node")
	fs.StringVar(&t.endpoint, "endpoint", "", "IP[:port] of the Talos API to dial (default: the node)")
	cmd.flags(fs)

	err := parseArgs(fs, args[1:], &t)
	if err == nil {
		err = cmd.check(t, stdout)
	}

	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(stdout, entry.usage)

		return 0
	}

	if err != nil {
		return fail(2, fmt.Errorf("%w (%s)", err, entry.usage))
	}

	talosconfig, err := readTalosconfig(stdin, name)
	if err != nil {
		return fail(2, err)
	}

	if err = cmd.run(ctx, t, talosconfig, stdout); err != nil {
		return fail(1, err)
	}

	return 0
}

// parseArgs parses the common flags (and the command's own, already on fs) and checks the target.
func parseArgs(fs *flag.FlagSet, args []string, t *target) error {
	if err := fs.Parse(args); err != nil {
		return err
	}

	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q (the talosconfig is read from stdin)", fs.Arg(0))
	}

	if net.ParseIP(t.node) == nil {
		return fmt.Errorf("--node %q is not an IP address", t.node)
	}

	if t.endpoint == "" {
		t.endpoint = t.node
	}

	if !isIPEndpoint(t.endpoint) {
		return fmt.Errorf("--endpoint %q is not an IP address or IP:port", t.endpoint)
	}

	return nil
}

func isIPEndpoint(s string) bool {
	if net.ParseIP(s) != nil {
		return true
	}

	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return false
	}

	n, err := strconv.Atoi(port)

	return err == nil && n > 0 && n < 65536 && net.ParseIP(host) != nil
}

// maxTalosconfig bounds what is read from stdin; a talosconfig is a few kilobytes.
const maxTalosconfig = 1 << 20

// yamlLine finds the position in a YAML error; the rest of such an error may quote the input,
// and the input holds a private key.
var yamlLine = regexp.MustCompile(`line \d+`)

// talosconfig is the current context of the talosconfig read from stdin, and the TLS
// identity it describes.
type talosconfig struct {
	context *clientconfig.Context
	roots   *x509.CertPool  // the OS CA the node's certificate must chain to
	cert    tls.Certificate // the client certificate and key
}

// readTalosconfig reads the talosconfig from stdin and returns its current context, checked to
// carry a CA and a client certificate and key. No error message quotes the input.
func readTalosconfig(stdin io.Reader, name string) (*talosconfig, error) {
	// Nobody types a private key: on a terminal, say how to pipe it instead of waiting.
	if f, ok := stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		return nil, fmt.Errorf("stdin is a terminal: pipe the talosconfig in (talos-ops %s ... <talosconfig)", name)
	}

	data, err := io.ReadAll(io.LimitReader(stdin, maxTalosconfig+1))
	if err != nil {
		return nil, fmt.Errorf("reading the talosconfig from stdin: %w", err)
	}

	switch {
	case len(strings.TrimSpace(string(data))) == 0:
		return nil, errors.New("no talosconfig on stdin")
	case len(data) > maxTalosconfig:
		return nil, fmt.Errorf("the talosconfig on stdin is larger than %d bytes", maxTalosconfig)
	}

	cfg, err := clientconfig.FromBytes(data)
	if err != nil {
		where := yamlLine.FindString(err.Error())
		if where == "" {
			where = "its structure"
		}

		return nil, fmt.Errorf("the talosconfig on stdin is not valid (YAML error at %s)", where)
	}

	ctx, ok := cfg.Contexts[cfg.Context]
	if !ok || ctx == nil {
		return nil, fmt.Errorf("the talosconfig on stdin has no context %q (its current context)", cfg.Context)
	}

	if ctx.CA == "" || ctx.Crt == "" || ctx.Key == "" {
		return nil, fmt.Errorf("talosconfig context %q lacks ca, crt or key: a client certificate is required", cfg.Context)
	}

	// The library's own loader, run now so a broken pair fails before any dialling; its errors
	// name the field and the decoding problem, never the bytes.
	cert, err := client.CertificateFromConfigContext(ctx)
	if err != nil {
		return nil, fmt.Errorf("talosconfig context %q: %w", cfg.Context, err)
	}

	roots := x509.NewCertPool()
	if ca, err := base64.StdEncoding.DecodeString(ctx.CA); err != nil || !roots.AppendCertsFromPEM(ca) {
		return nil, fmt.Errorf("talosconfig context %q: ca is not a base64-encoded PEM certificate", cfg.Context)
	}

	// mTLS only: the other methods a context may name (SideroV1 keys) are read from disk.
	ctx.Auth = clientconfig.Auth{}

	return &talosconfig{context: ctx, roots: roots, cert: *cert}, nil
}

// oneLine keeps an error on one line: node messages (validation errors) may span several.
func oneLine(err error) string {
	return strings.Join(strings.Fields(err.Error()), " ")
}
