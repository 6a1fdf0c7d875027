// Command talos-ops is what the project asks of Talos beyond the Talos provider, on Talos's own
// client library and machinery (github.com/siderolabs/talos/pkg/machinery):
//
//	talos-ops upgrade --node <ip> --endpoint <ip> --image <installer>:vX.Y.Z [--timeout 10m] [--stage] <talosconfig
//	talos-ops etcd-snapshot --node <ip> --endpoint <ip> <talosconfig >etcd.db
//	talos-ops etcd-recover --node <ip> --endpoint <ip> --snapshot <file> <talosconfig
//	talos-ops gen-secrets [--talos-version vX.Y.Z] >secrets.yaml
//	talos-ops secrets-from-config <controlplane.yaml >secrets.yaml
//	talos-ops gen-config --cluster-name <name> --endpoint https://<ip>:6443 --kubernetes-version vX.Y.Z --talos-version vX.Y.Z
//	    [--install-disk /dev/sda] [--install-image <image>] [--patch <file>]... [--worker] <secrets.yaml >config.yaml
//	talos-ops talosconfig --endpoint <ip> [--node <ip>]... --context <name> <secrets.yaml >talosconfig
//	talos-ops apply --node <ip> --endpoint <ip> --file <config> [--mode auto|no-reboot|reboot|staged] [--dry-run] [--insecure] <talosconfig
//	talos-ops bootstrap --node <ip> --endpoint <ip> <talosconfig
//	talos-ops kubeconfig --node <ip> --endpoint <ip> <talosconfig >kubeconfig
//	talos-ops machine-config --node <ip> --endpoint <ip> <talosconfig >config.yaml
//
// upgrade upgrades one node to the version of an installer image, the one thing the Talos
// Pulumi provider cannot do (the stack runs it once per node, control planes first, one at a
// time; see upgrade.go). etcd-snapshot streams the node's etcd snapshot (MachineService
// EtcdSnapshot) to stdout; etcd-recover uploads a snapshot (EtcdRecover) and bootstraps etcd
// from it (Bootstrap with recover_etcd); `npm run etcd-backup` and `npm run etcd-restore` run
// them (see etcd.go).
//
// The rest take over a node "as found", installed and bootstrapped from a config the stack did
// not make: its secrets out of its config (secrets-from-config), or new ones (gen-secrets);
// configs and a talosconfig from them as talosctl makes them (gen-config, talosconfig; see
// secrets.go); and the node's own API (apply, with --dry-run for the node's diff; bootstrap;
// kubeconfig; machine-config, the node's running config; see node.go).
//
// Secrets travel only on stdin and stdout, or in files the caller names (--file, --patch,
// --snapshot), never on a command line: the talosconfig (YAML as talos.client.getConfiguration
// renders it) carries the client's private key, a secrets bundle or a machine config every key
// of the cluster. No message quotes them, and what writes one to stdout refuses a terminal.
// A failure prints one line on stderr and exits 1 (2 for a bad invocation or a missing or
// unreadable input). --endpoint of a node command defaults to --node.
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
	"github.com/siderolabs/talos/pkg/machinery/config"
	"github.com/siderolabs/talos/pkg/machinery/config/generate/secrets"
	"golang.org/x/term"
)

// usage lists every command's usage line.
var usage = "usage: talos-ops <command> [flags] (secrets and talosconfigs on stdin, never as arguments)" + func() string {
	var b strings.Builder

	for _, u := range []string{
		upgradeUsage, etcdSnapshotUsage, etcdRecoverUsage, genSecretsUsage, secretsFromConfigUsage, genConfigUsage,
		talosconfigUsage, applyUsage, bootstrapUsage, kubeconfigUsage, machineConfigUsage,
	} {
		b.WriteString("\n  " + strings.TrimPrefix(u, "usage: "))
	}

	return b.String()
}()

// subcommand is one command of the tool that talks to a node, holding its own flags' values.
type subcommand interface {
	// flags adds the command's own flags to fs (--node and --endpoint are common).
	flags(fs *flag.FlagSet)
	// check validates the command's flags once the command line is parsed, before stdin is
	// read. An error is a bad invocation (exit 2, with the usage).
	check(t target, stdout io.Writer) error
	// run does the work; its outputs are stdout's (the tool's messages, or the snapshot).
	run(ctx context.Context, t target, tc *talosconfig, stdout io.Writer) error
}

// insecureCommand is a node command that may run without a talosconfig (on a node in
// maintenance mode); it reads none when insecure says so.
type insecureCommand interface {
	insecure() bool
}

// localCommand is a command that talks to no node: it works on what stdin holds (see input).
type localCommand interface {
	flags(fs *flag.FlagSet)
	// check validates the flags before stdin is read; an error is a bad invocation.
	check(stdout io.Writer) error
	// run writes the result to stdout; warnings, if any, go to stderr.
	run(in localInput, stdout, stderr io.Writer) error
}

// input is what a local command reads from stdin.
type input int

const (
	noInput      input = iota
	bundleInput        // a secrets bundle (talosctl gen secrets)
	machineInput       // a machine config
)

// localInput is stdin, read and parsed for a local command.
type localInput struct {
	bundle *secrets.Bundle
	config config.Provider
}

type commandEntry struct {
	usage string
	node  func() subcommand   // a command talking to a node, or
	local func() localCommand // one that does not,
	stdin input               // reading this from stdin
}

var commands = map[string]commandEntry{
	"upgrade":             {usage: upgradeUsage, node: func() subcommand { return &upgradeCmd{} }},
	"etcd-snapshot":       {usage: etcdSnapshotUsage, node: func() subcommand { return &etcdSnapshotCmd{} }},
	"etcd-recover":        {usage: etcdRecoverUsage, node: func() subcommand { return &etcdRecoverCmd{} }},
	"gen-secrets":         {usage: genSecretsUsage, local: func() localCommand { return &genSecretsCmd{} }},
	"secrets-from-config": {usage: secretsFromConfigUsage, local: func() localCommand { return &secretsFromConfigCmd{} }, stdin: machineInput},
	"gen-config":          {usage: genConfigUsage, local: func() localCommand { return &genConfigCmd{} }, stdin: bundleInput},
	"talosconfig":         {usage: talosconfigUsage, local: func() localCommand { return &talosconfigCmd{} }, stdin: bundleInput},
	"apply":               {usage: applyUsage, node: func() subcommand { return &applyCmd{} }},
	"bootstrap":           {usage: bootstrapUsage, node: func() subcommand { return &bootstrapCmd{} }},
	"kubeconfig":          {usage: kubeconfigUsage, node: func() subcommand { return &kubeconfigCmd{} }},
	"machine-config":      {usage: machineConfigUsage, node: func() subcommand { return &machineConfigCmd{} }},
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

	name := args[0]
	fail := func(code int, err error) int {
		fmt.Fprintln(stderr, "talos-ops "+name+":", oneLine(err))

		return code
	}

	fs := flag.NewFlagSet("talos-ops "+name, flag.ContinueOnError)
	fs.SetOutput(io.Discard) // errors are reported by run, on one line

	if entry.local != nil {
		return runLocal(name, entry, fs, args[1:], stdin, stdout, stderr, fail)
	}

	cmd := entry.node()

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

	var talosconfig *talosconfig

	if ic, ok := cmd.(insecureCommand); !ok || !ic.insecure() {
		if talosconfig, err = readTalosconfig(stdin, name); err != nil {
			return fail(2, err)
		}
	}

	if err = cmd.run(ctx, t, talosconfig, stdout); err != nil {
		return fail(1, err)
	}

	return 0
}

// runLocal runs a command that talks to no node: flags, then stdin, then the work.
func runLocal(name string, entry commandEntry, fs *flag.FlagSet, args []string, stdin io.Reader, stdout, stderr io.Writer,
	fail func(int, error) int,
) int {
	cmd := entry.local()
	cmd.flags(fs)

	err := fs.Parse(args)
	if err == nil && fs.NArg() > 0 {
		err = fmt.Errorf("unexpected argument %q (inputs come from stdin and the named flags)", fs.Arg(0))
	}

	if err == nil {
		err = cmd.check(stdout)
	}

	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(stdout, entry.usage)

		return 0
	}

	if err != nil {
		return fail(2, fmt.Errorf("%w (%s)", err, entry.usage))
	}

	var in localInput

	switch entry.stdin {
	case bundleInput:
		in.bundle, err = readBundle(stdin, name)
	case machineInput:
		in.config, err = readMachineConfig(stdin, name)
	case noInput:
	}

	if err != nil {
		return fail(2, err)
	}

	if err = cmd.run(in, stdout, stderr); err != nil {
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

// readStdin reads a secret input (what: "talosconfig", "secrets bundle", ...) from stdin,
// at most limit bytes; file is how the usage names it.
func readStdin(stdin io.Reader, name, what, file string, limit int) ([]byte, error) {
	// Nobody types a private key: on a terminal, say how to pipe it instead of waiting.
	if f, ok := stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		return nil, fmt.Errorf("stdin is a terminal: pipe the %s in (talos-ops %s ... <%s)", what, name, file)
	}

	data, err := io.ReadAll(io.LimitReader(stdin, int64(limit)+1))
	if err != nil {
		return nil, fmt.Errorf("reading the %s from stdin: %w", what, err)
	}

	switch {
	case len(strings.TrimSpace(string(data))) == 0:
		return nil, fmt.Errorf("no %s on stdin", what)
	case len(data) > limit:
		return nil, fmt.Errorf("the %s on stdin is larger than %d bytes", what, limit)
	}

	return data, nil
}

// refuseTerminal refuses a terminal for stdout: what a command writes there is a secret (or
// binary), no thing to print. example shows the redirection.
func refuseTerminal(stdout io.Writer, what, example string) error {
	if f, ok := stdout.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		return fmt.Errorf("stdout is a terminal: redirect the %s (%s)", what, example)
	}

	return nil
}

// readTalosconfig reads the talosconfig from stdin and returns its current context, checked to
// carry a CA and a client certificate and key. No error message quotes the input.
func readTalosconfig(stdin io.Reader, name string) (*talosconfig, error) {
	data, err := readStdin(stdin, name, "talosconfig", "talosconfig", maxTalosconfig)
	if err != nil {
		return nil, err
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
