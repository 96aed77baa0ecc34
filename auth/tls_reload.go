package auth

import (
	"crypto/tls"
	"sync"
	"time"
)

// tlsFiles is the one reload rule of ServerTLS and ClientTLS: the
// configuration loaded from the files, checked against their stamps at
// most every TLSReloadCheckInterval and reloaded when one changed; a
// change that does not load keeps the previous configuration.
type tlsFiles struct {
	load func() (*tls.Config, []fileStamp, error)

	mu        sync.Mutex // guards the fields below
	current   *tls.Config
	stamps    []fileStamp // of the files current was loaded from
	lastCheck time.Time
}

// open loads the files a first time.
func (f *tlsFiles) open(load func() (*tls.Config, []fileStamp, error)) error {
	f.load = load
	return f.reload()
}

// config is the current configuration, reloaded first if a file changed;
// onErr, if set, is told of a change that could not be loaded.
func (f *tlsFiles) config(now time.Time, onErr func(error)) *tls.Config {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.stamps) == 0 || now.Sub(f.lastCheck) < TLSReloadCheckInterval {
		return f.current
	}
	f.lastCheck = now
	if !stampsChanged(f.stamps) {
		return f.current
	}
	cfg, stamps, err := f.load()
	if err != nil {
		if onErr != nil {
			onErr(err)
		}
		return f.current
	}
	f.current, f.stamps = cfg, stamps
	return cfg
}

// reload loads the files again now, whatever their stamps say; the
// previous configuration stays if they do not load.
func (f *tlsFiles) reload() error {
	cfg, stamps, err := f.load()
	if err != nil {
		return err
	}
	f.mu.Lock()
	f.current, f.stamps, f.lastCheck = cfg, stamps, time.Now()
	f.mu.Unlock()
	return nil
}

// loaded is the configuration as last loaded, without a check.
func (f *tlsFiles) loaded() *tls.Config {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.current
}
