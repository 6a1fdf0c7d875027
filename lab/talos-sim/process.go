package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Process supervision for the control plane, and the polling helpers its start-up uses.

// superviseInBackground runs supervise in a goroutine the control plane's stop waits for (wg).
func (c *controlPlane) superviseInBackground(ctx context.Context, wg *sync.WaitGroup, name string, args []string) {
	wg.Add(1)

	go func() {
		defer wg.Done()
		c.supervise(ctx, name, args)
	}()
}

// supervise keeps one process running until ctx ends, restarting it 2 s after it exits.
func (c *controlPlane) supervise(ctx context.Context, name string, args []string) {
	// Pdeathsig fires when the *thread* that started the child exits, not the process. Pinning
	// this goroutine to its thread keeps that thread alive as long as the child may run.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()

	for {
		err := c.runOnce(ctx, name, args)
		if ctx.Err() != nil {
			return
		}

		c.log.Warn("control-plane process exited; restarting", "name", name, "err", err)

		select {
		case <-ctx.Done():
			return
		case <-time.After(2 * time.Second):
		}
	}
}

// runOnce runs one process to its end, its output appended to <state>/<name>.log.
func (c *controlPlane) runOnce(ctx context.Context, name string, args []string) error {
	logPath := c.state.path(name + ".log")

	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	defer logFile.Close() //nolint:errcheck

	cmd := exec.CommandContext(ctx, filepath.Join(c.binDir, name), args...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	// Children die with the simulator even when it is killed outright: SIGTERM lets etcd,
	// which runs without fsync, close its database cleanly.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 10 * time.Second

	c.log.Info("starting control-plane process", "name", name, "log", logPath)

	return cmd.Run()
}

// getOK succeeds when url answers 200.
func getOK(ctx context.Context, client *http.Client, url string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}

	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close() //nolint:errcheck

	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096)) //nolint:errcheck
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s: %s", url, resp.Status, strings.TrimSpace(string(body)))
	}

	return nil
}

// poll calls check every interval until it succeeds or ctx ends; on timeout the last check
// error is returned with the context's.
func poll(ctx context.Context, interval time.Duration, check func() error) error {
	ticker := time.NewTicker(interval)
	defer ticker.Stop()

	for {
		err := check()
		if err == nil {
			return nil
		}

		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (last: %w)", ctx.Err(), err)
		case <-ticker.C:
		}
	}
}
