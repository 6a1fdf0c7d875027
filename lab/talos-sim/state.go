package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// stateStore is the simulated node's STATE partition: everything a real node keeps across a
// reboot lives here, so a restarted simulator comes back in the mode it was left in.
//
// Layout of the state directory:
//
//	config.yaml          the applied machine config, byte for byte as received
//	config.staged.yaml   a config applied with mode=staged, promoted on the next start
//	bootstrapped         marker: a Bootstrap call has been answered OK
//	talos-version        the Talos version the node runs: written at install (the first apply)
//	                     and by Upgrade, so a re-applied config never changes it
//	talos-version.staged an upgrade made with stage=true, promoted on the next start
//	node-identity        the node's random identity (Talos's cluster.Identity NodeID), from
//	                     which a config without a hostname gets its stable hostname
//	etcd/                etcd's data directory
//	pki/                 certificates and kubeconfigs issued for the control-plane processes
//	*.log                the control-plane processes' output
type stateStore struct {
	dir string
}

const (
	configFile        = "config.yaml"
	stagedConfigFile  = "config.staged.yaml"
	bootstrappedFile  = "bootstrapped"
	versionFile       = "talos-version"
	stagedVersionFile = "talos-version.staged"
	nodeIdentityFile  = "node-identity"
)

func newStateStore(dir string) (stateStore, error) {
	// 0700: the directory holds the machine config, which carries every cluster secret.
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return stateStore{}, fmt.Errorf("state dir: %w", err)
	}

	return stateStore{dir: dir}, nil
}

// path joins elem onto the state directory.
func (s stateStore) path(elem ...string) string {
	return filepath.Join(append([]string{s.dir}, elem...)...)
}

// loadConfig returns the applied config, or nil when the node has never been configured.
func (s stateStore) loadConfig() ([]byte, error) {
	return readOptional(s.path(configFile))
}

func (s stateStore) saveConfig(data []byte) error {
	return writeFileAtomic(s.path(configFile), data)
}

func (s stateStore) saveStagedConfig(data []byte) error {
	return writeFileAtomic(s.path(stagedConfigFile), data)
}

// removeStagedConfig drops a staged config that a later apply has overtaken: like Talos, which
// keeps one persisted config, the newest apply is what the next start runs.
func (s stateStore) removeStagedConfig() error {
	err := os.Remove(s.path(stagedConfigFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}

	return err
}

// promoteStagedConfig makes a staged config the applied one. It runs at start-up, because a
// start of the simulator stands for the reboot a staged config waits for.
func (s stateStore) promoteStagedConfig() (bool, error) {
	err := os.Rename(s.path(stagedConfigFile), s.path(configFile))
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}

	return err == nil, err
}

func (s stateStore) bootstrapped() bool {
	_, err := os.Stat(s.path(bootstrappedFile))

	return err == nil
}

func (s stateStore) markBootstrapped() error {
	return writeFileAtomic(s.path(bootstrappedFile), nil)
}

// loadVersion returns the running Talos version, or "" when none has been recorded (a node
// never configured, or a state dir from before versions were recorded).
func (s stateStore) loadVersion() (string, error) {
	data, err := readOptional(s.path(versionFile))

	return strings.TrimSpace(string(data)), err
}

func (s stateStore) saveVersion(version string) error {
	return writeFileAtomic(s.path(versionFile), []byte(version+"\n"))
}

// saveStagedVersion records a staged upgrade; removeStagedVersion drops one that an immediate
// upgrade has overtaken.
func (s stateStore) saveStagedVersion(version string) error {
	return writeFileAtomic(s.path(stagedVersionFile), []byte(version+"\n"))
}

func (s stateStore) removeStagedVersion() error {
	err := os.Remove(s.path(stagedVersionFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}

	return err
}

// promoteStagedVersion makes a staged upgrade the running version, at start-up like a staged
// config: a start of the simulator stands for the reboot the staged upgrade waits for.
func (s stateStore) promoteStagedVersion() (bool, error) {
	err := os.Rename(s.path(stagedVersionFile), s.path(versionFile))
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}

	return err == nil, err
}

func readOptional(path string) ([]byte, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}

	return data, err
}

// writeFileAtomic writes via a temporary file and a rename, so a simulator killed mid-write
// never leaves a half-written config behind to be loaded on the next start.
func writeFileAtomic(path string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}

	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return err
	}

	return os.Rename(tmp, path)
}
