package chaos

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"strand.dev/client/admin"
)

// Config is a chaos run.
type Config struct {
	// Run names the run (in every record's value and in the group names).
	Run    string
	Docker *Docker
	// Ports are the roles' API ports (DefaultAPIPorts).
	Ports map[string]int
	// DataDir is the data nodes' data directory inside their containers.
	DataDir string

	Topics            []string
	Partitions        int32
	ReplicationFactor int16
	MinInsyncReplicas int
	// ProducersPerTopic producers per topic, each sending Rate records/s.
	ProducersPerTopic int
	Rate              float64
	ValueBytes        int
	// Idempotence asks for idempotent producers (see ProducerConfig).
	Idempotence bool
	// GroupMembers members in one group per topic (0: no groups).
	GroupMembers int

	// Baseline is how long the workload runs before the first fault;
	// Hold how long a kill or a network cut lasts; Pause how long a data
	// node stays paused (longer than the gossip failure detection and the
	// replica lag limit); Settle how long the workload runs on a healthy
	// cluster after each fault; Recover how long the cluster may take to be
	// healthy again.
	Baseline, Hold, Pause, Settle, Recover time.Duration

	// Faults to run (default: Faults()).
	Faults []Fault
	Logger *slog.Logger
	// Progress receives one line per step (default: stderr).
	Progress io.Writer
}

func (c *Config) defaults() {
	if c.Ports == nil {
		c.Ports = DefaultAPIPorts
	}
	if c.DataDir == "" {
		c.DataDir = "/var/lib/strand"
	}
	if c.Faults == nil {
		c.Faults = Faults()
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Progress == nil {
		c.Progress = os.Stderr
	}
}

// Suite is one chaos run against the compose cluster.
type Suite struct {
	cfg     Config
	cluster *Cluster
	ledger  *Ledger
	groups  []*Group
	start   time.Time
}

func (s *Suite) progress(format string, args ...any) {
	fmt.Fprintf(s.cfg.Progress, "[%6.1fs] %s\n", time.Since(s.start).Seconds(), fmt.Sprintf(format, args...))
}

// Run runs the workload through every fault and checks the outcome. The
// error is for a run that could not be carried out; broken promises are in
// the Report.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	cfg.defaults()
	s := &Suite{cfg: cfg, start: time.Now()}
	var err error
	if s.cluster, err = NewCluster(ctx, cfg.Docker, cfg.Ports); err != nil {
		return nil, err
	}
	defer s.cluster.Close()
	var incidents []string

	s.progress("waiting for a healthy cluster (%d containers)", len(s.cluster.Nodes))
	if _, err := s.cluster.WaitHealthy(ctx, nil, cfg.Recover); err != nil {
		return nil, err
	}
	if err := s.createTopics(ctx); err != nil {
		return nil, err
	}
	d, err := s.cluster.WaitHealthy(ctx, cfg.Topics, cfg.Recover)
	if err != nil {
		return nil, err
	}
	s.progress("topics %v ready after %v", cfg.Topics, d.Round(time.Millisecond))

	s.ledger = NewLedger("baseline", nil)
	prod, err := StartProducers(ProducerConfig{Run: cfg.Run, Bootstrap: s.cluster.Bootstrap(), Topics: cfg.Topics,
		Partitions: cfg.Partitions, PerTopic: cfg.ProducersPerTopic, Rate: cfg.Rate, ValueBytes: cfg.ValueBytes,
		Idempotence: cfg.Idempotence, Logger: cfg.Logger}, s.ledger)
	if err != nil {
		return nil, err
	}
	s.progress("workload: %d producers at %v records/s each (acks=all, idempotent: %v)", len(cfg.Topics)*cfg.ProducersPerTopic, cfg.Rate, prod.Idempotent)
	if cfg.Idempotence && !prod.Idempotent {
		s.progress("the client library has no idempotent producer yet: a retried batch whose answer was lost may be duplicated")
	}
	if cfg.GroupMembers > 0 {
		for _, t := range cfg.Topics {
			g, err := StartGroup(GroupConfig{Group: "chaos-" + cfg.Run + "-" + t, Topics: []string{t}, Members: cfg.GroupMembers,
				Bootstrap: s.cluster.Bootstrap(), Logger: cfg.Logger}, s.cluster)
			if err != nil {
				prod.Stop(ctx)
				return nil, err
			}
			s.groups = append(s.groups, g)
		}
		s.progress("consumer groups: %d of %d members each", len(s.groups), cfg.GroupMembers)
	}
	stopGroups := func() {
		for _, g := range s.groups {
			g.Stop(ctx)
		}
	}
	s.hold(ctx, cfg.Baseline)

	for _, f := range cfg.Faults {
		if ctx.Err() != nil {
			break
		}
		s.ledger.BeginPhase(f.Name)
		what, err := f.Inject(ctx, s)
		if err != nil {
			incidents = append(incidents, fmt.Sprintf("%s: the fault could not be injected: %v", f.Name, err))
			s.progress("%s: FAILED to inject: %v", f.Name, err)
		} else {
			s.progress("%s: %s", f.Name, what)
		}
		d, err := s.cluster.WaitHealthy(ctx, cfg.Topics, cfg.Recover)
		if err != nil {
			incidents = append(incidents, fmt.Sprintf("%s: %v", f.Name, err))
			s.progress("%s: the cluster did not recover: %v", f.Name, err)
		} else {
			s.progress("%s: healthy again %v after the fault ended", f.Name, d.Round(time.Millisecond))
		}
		s.hold(ctx, cfg.Settle)
	}

	s.progress("stopping the producers")
	stopCtx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	if err := prod.Stop(stopCtx); err != nil {
		s.progress("producers: %v", err)
	}
	cancel()
	s.ledger.Finish()

	s.progress("waiting for every replica to catch up")
	states, err := WaitQuiesced(ctx, s.cluster, cfg.Topics, cfg.Recover)
	if err != nil {
		incidents = append(incidents, err.Error())
		s.progress("%v", err)
	}
	hw := map[TP]int64{}
	for tp, st := range states {
		hw[tp] = st.HighWatermark
	}
	in := Input{Ledger: s.ledger.View(), Logs: map[TP]PartitionLog{}, Incidents: incidents,
		Consumed: map[string]map[TP]map[RecordID]bool{}, GroupTopics: map[string][]string{}}
	for _, g := range s.groups {
		out := g.WaitConverged(ctx, hw, cfg.Recover)
		in.Groups = append(in.Groups, out)
		s.progress("group %s converged: %v %s", g.Name(), out.Converged, out.Detail)
	}
	stopGroups()
	for _, g := range s.groups {
		in.Commits = append(in.Commits, g.Commits()...)
		in.Consumed[g.Name()] = g.Consumed()
		in.GroupTopics[g.Name()] = g.cfg.Topics
	}

	s.progress("reading every partition back from its leader and every replica")
	tmp, err := os.MkdirTemp("", "strand-chaos-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	for _, tp := range s.ledger.View().Partitions() {
		st, ok := states[tp]
		if !ok {
			in.ReadErrors = append(in.ReadErrors, fmt.Sprintf("%s: no end state", tp))
			continue
		}
		pl := PartitionLog{HighWatermark: st.HighWatermark}
		rctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
		pl.Leader, err = ReadFromLeader(rctx, s.cluster.Bootstrap(), cfg.Run, tp, st.HighWatermark)
		cancel()
		if err != nil {
			in.ReadErrors = append(in.ReadErrors, err.Error())
		}
		md, err := s.cluster.Metadata(ctx)
		if err != nil {
			return nil, err
		}
		for _, r := range st.Replicas {
			ni, ok := md.Node(r)
			n, ok2 := s.cluster.NodeOfAddr(ni.Addr)
			if !ok || !ok2 {
				in.ReadErrors = append(in.ReadErrors, fmt.Sprintf("%s: replica %d is no container", tp, r))
				continue
			}
			entries, err := ReadReplica(ctx, cfg.Docker, n.Container, cfg.DataDir, cfg.Run, tp, tmp)
			if err != nil {
				in.ReadErrors = append(in.ReadErrors, fmt.Sprintf("%s on %s: %v", tp, n.Container, err))
			}
			pl.Replicas = append(pl.Replicas, Replica{Node: r, Entries: entries, InSync: st.ISR[r]})
		}
		in.Logs[tp] = pl
	}
	rep := Check(in)
	s.progress("checked: %d violations", len(rep.Violations))
	return rep, nil
}

// createTopics creates the suite's topics (acks=all needs
// min.insync.replicas of them).
func (s *Suite) createTopics(ctx context.Context) error {
	for _, t := range s.cfg.Topics {
		_, err := s.cluster.Admin().CreateTopic(ctx, admin.NewTopic{Name: t, Partitions: s.cfg.Partitions,
			ReplicationFactor: s.cfg.ReplicationFactor,
			Configs:           map[string]string{"min.insync.replicas": fmt.Sprint(s.cfg.MinInsyncReplicas)}})
		if err != nil && !errors.Is(err, admin.ErrTopicExists) {
			return fmt.Errorf("create topic %s: %w", t, err)
		}
	}
	return nil
}
