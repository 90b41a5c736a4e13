package consumer

import (
	"fmt"
	"time"

	"strand.dev/client/internal/routing"
	"strand.dev/client/wire"
)

// groupConfig holds the settings only a GroupConsumer uses. A Consumer
// without a group ignores them.
type groupConfig struct {
	coordinators       []string
	instanceID         string
	clientID           string
	assignors          []string
	sessionTimeout     time.Duration
	rebalanceTimeout   time.Duration
	heartbeatWait      time.Duration
	autoCommit         bool
	autoCommitInterval time.Duration
	commitTimeout      time.Duration
	closeTimeout       time.Duration
}

func groupDefaults() groupConfig {
	return groupConfig{
		assignors:          []string{wire.AssignorCooperativeSticky},
		sessionTimeout:     wire.DefaultSessionTimeoutMs * time.Millisecond,
		rebalanceTimeout:   wire.DefaultRebalanceTimeoutMs * time.Millisecond,
		autoCommit:         true,
		autoCommitInterval: 5 * time.Second,
		commitTimeout:      60 * time.Second,
		closeTimeout:       30 * time.Second,
	}
}

func (g *groupConfig) validate() error {
	for _, a := range g.coordinators {
		if err := routing.CheckAddr(a); err != nil {
			return fmt.Errorf("coordinator address: %w", err)
		}
	}
	if len(g.assignors) == 0 {
		return fmt.Errorf("no assignor given")
	}
	for _, a := range g.assignors {
		switch a {
		case wire.AssignorRange, wire.AssignorRoundRobin, wire.AssignorCooperativeSticky:
		default:
			return fmt.Errorf("assignor %q: want %s, %s or %s", a, wire.AssignorCooperativeSticky, wire.AssignorRange, wire.AssignorRoundRobin)
		}
	}
	if g.sessionTimeout < 100*time.Millisecond || g.sessionTimeout > time.Hour {
		return fmt.Errorf("session.timeout.ms %v must be within 100ms..1h", g.sessionTimeout)
	}
	if g.rebalanceTimeout < 100*time.Millisecond || g.rebalanceTimeout > 24*time.Hour {
		return fmt.Errorf("max.poll.interval.ms %v must be within 100ms..24h", g.rebalanceTimeout)
	}
	if g.heartbeatWait < 0 {
		return fmt.Errorf("heartbeat long-poll wait %v must not be negative", g.heartbeatWait)
	}
	if g.autoCommit && g.autoCommitInterval <= 0 {
		return fmt.Errorf("auto.commit.interval.ms %v must be positive", g.autoCommitInterval)
	}
	if g.commitTimeout <= 0 || g.closeTimeout <= 0 {
		return fmt.Errorf("commit timeout %v and close timeout %v must be positive", g.commitTimeout, g.closeTimeout)
	}
	if len(g.instanceID) > wire.MaxGroupIDLen {
		return fmt.Errorf("group.instance.id is %d bytes long, the limit is %d", len(g.instanceID), wire.MaxGroupIDLen)
	}
	return nil
}

// Coordinators adds strand-coordinator API addresses (host:port) to ask
// which coordinator owns the group. Default: none besides the live
// coordinators the cluster metadata lists, which is enough in a cluster; a
// coordinator running standalone (without strand-meta) is not listed there
// and must be named here. Group consumers only.
func Coordinators(addrs ...string) Option {
	return func(c *config) { c.grp.coordinators = append([]string(nil), addrs...) }
}

// GroupInstanceID makes the member static (group.instance.id): a process
// that restarts with the same id within the session timeout takes over its
// predecessor's partitions without a rebalance, and the predecessor is
// fenced (its requests fail with FENCED_INSTANCE_ID). A static member does
// not leave the group on Close, as in Kafka: its partitions stay assigned
// until a successor arrives or the session times out. Default: none
// (dynamic membership). Group consumers only.
func GroupInstanceID(id string) Option { return func(c *config) { c.grp.instanceID = id } }

// ClientID is client.id, shown by `strand group describe`. Default: none.
func ClientID(id string) Option { return func(c *config) { c.grp.clientID = id } }

// Assignors sets the partition assignment strategies the member supports,
// in order of preference (partition.assignment.strategy): "cooperative-sticky",
// "range" or "roundrobin". The coordinator computes the assignment and
// always rebalances incrementally. Default: cooperative-sticky. Group
// consumers only.
func Assignors(names ...string) Option {
	return func(c *config) { c.grp.assignors = append([]string(nil), names...) }
}

// SessionTimeout is session.timeout.ms: a member that sends no heartbeat for
// this long is expelled and its partitions go to the others. The
// coordinator bounds it (by default to 6 s..30 min). A member that cannot
// reach any coordinator for this long considers its partitions lost and
// stops consuming them. Default 45 s. Group consumers only.
func SessionTimeout(d time.Duration) Option { return func(c *config) { c.grp.sessionTimeout = d } }

// MaxPollInterval is max.poll.interval.ms: the longest the application may
// spend between returning from Poll and calling it again, and the longest
// a revocation may wait for the next Poll. Past it the coordinator expels
// the member; the member joins again (as a new member) on its next Poll.
// Default 5 min. Group consumers only.
func MaxPollInterval(d time.Duration) Option { return func(c *config) { c.grp.rebalanceTimeout = d } }

// HeartbeatWait bounds how long one heartbeat waits at the coordinator for a
// change of assignment (the long poll that makes rebalances propagate in
// milliseconds). The coordinator caps it at a third of the session timeout
// and at its --max-heartbeat-wait. Default: a third of the session timeout.
// Group consumers only.
func HeartbeatWait(d time.Duration) Option { return func(c *config) { c.grp.heartbeatWait = d } }

// AutoCommit turns enable.auto.commit on or off. When on, Poll commits, at
// most every AutoCommitInterval and without waiting for the answer, the
// positions reached by the records earlier Polls returned (so records are
// taken as processed once the application polls again); revocations and
// Close commit synchronously. Default on, as in Kafka. Group consumers
// only.
func AutoCommit(on bool) Option { return func(c *config) { c.grp.autoCommit = on } }

// AutoCommitInterval is auto.commit.interval.ms. Default 5 s. Group
// consumers only.
func AutoCommitInterval(d time.Duration) Option {
	return func(c *config) { c.grp.autoCommitInterval = d }
}

// CommitTimeout bounds an asynchronous commit (CommitAsync, auto-commit),
// retries on coordinator moves included; CommitSync is bounded by its
// context. Default 60 s (Kafka's default.api.timeout.ms). Group consumers
// only.
func CommitTimeout(d time.Duration) Option { return func(c *config) { c.grp.commitTimeout = d } }

// CloseTimeout bounds Close: the last commits, the revocation callback and
// leaving the group. Default 30 s. Group consumers only.
func CloseTimeout(d time.Duration) Option { return func(c *config) { c.grp.closeTimeout = d } }
