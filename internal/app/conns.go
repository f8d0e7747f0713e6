package app

import (
	"github.com/rtgate/rtgate/internal/clientip"
	"github.com/rtgate/rtgate/internal/config"
	"github.com/rtgate/rtgate/internal/connlimit"
	"github.com/rtgate/rtgate/internal/server"
)

// newConnLimits raises the descriptor limit to the hard limit, logs both
// limits and the caps, and builds the connection limiters:
//
//   - a.conns, shared by the public and the plain-HTTP redirect listener
//     (they spend the same descriptors): MAX_CONNS_PER_IP per client
//     address, trusted proxies exempt, and MAX_CONNS in total;
//   - a.adminConns for the admin listener: the per-address cap only, and
//     counted apart, so a flood that fills MAX_CONNS on the public side
//     never locks the operator out of /metrics and /readyz. The admin
//     listener is on loopback by default; its descriptors come out of the
//     quarter MAX_CONNS=auto leaves free.
func (a *App) newConnLimits() error {
	c := a.cfg
	fl, err := server.RaiseFileLimit()
	if err != nil {
		a.log.Warn("could not raise the descriptor limit (RLIMIT_NOFILE)", "error", err.Error())
	}
	total := c.Conns.Max
	if total == config.AutoMaxConns {
		total = 0
		if fl.Soft > 0 {
			total = connlimit.DefaultTotal(fl.Soft)
		} else {
			a.log.Warn("MAX_CONNS=auto without a known descriptor limit: no total connection cap")
		}
	}
	a.log.Info("descriptor limit", "nofile_soft", fl.Soft, "nofile_hard", fl.Hard, "nofile_soft_at_start", fl.SoftBefore,
		"max_conns", total, "max_conns_per_ip", c.Conns.PerIP)

	m, err := connlimit.NewMetrics(a.registry)
	if err != nil {
		return err
	}
	log := a.log.With("component", "connlimit")
	trusted := clientip.NewResolver(c.TrustedProxies, c.ClientIPHeader).Trusted
	if a.conns, err = connlimit.New(connlimit.Options{
		PerAddr: c.Conns.PerIP, Total: total, IPv6Prefix: c.RateLimitIPv6Prefix,
		Exempt: trusted, Metrics: m, Logger: log,
	}); err != nil {
		return err
	}
	a.adminConns, err = connlimit.New(connlimit.Options{
		PerAddr: c.Conns.PerIP, IPv6Prefix: c.RateLimitIPv6Prefix, Metrics: m, Logger: log,
	})
	return err
}
