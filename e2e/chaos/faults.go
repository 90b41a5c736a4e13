package chaos

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// Fault is one fault of the sequence: Inject breaks something (and returns
// what it did, for the log), holding it as long as it should, and heals it.
type Fault struct {
	Name   string
	Inject func(ctx context.Context, s *Suite) (string, error)
}

// Faults are the fault drills, in the order they run.
func Faults() []Fault {
	return []Fault{
		{"kill partition leader", killPartitionLeader},
		{"kill active controller", killActiveController},
		{"kill group coordinator", killGroupCoordinator},
		{"kill strand-meta leader", killMetaLeader},
		{"pause data node", pauseDataNode},
		{"partition data node", partitionDataNode},
		{"partition strand-meta leader", partitionMetaLeader},
		{"full stop and start", fullRestart},
	}
}

// killAndRestart SIGKILLs a container, waits hold and starts it again.
func (s *Suite) killAndRestart(ctx context.Context, n Node) error {
	if err := s.cfg.Docker.Kill(ctx, n.Container); err != nil {
		return err
	}
	if err := s.hold(ctx, s.cfg.Hold); err != nil {
		return err
	}
	return s.cfg.Docker.Start(ctx, n.Container)
}

func (s *Suite) hold(ctx context.Context, d time.Duration) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}

func killPartitionLeader(ctx context.Context, s *Suite) (string, error) {
	tp := TP{s.cfg.Topics[0], 0}
	n, err := s.cluster.PartitionLeader(ctx, tp)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("SIGKILL %s (leader of %s) for %v, then start", n.Container, tp, s.cfg.Hold), s.killAndRestart(ctx, n)
}

func killActiveController(ctx context.Context, s *Suite) (string, error) {
	n, err := s.cluster.ActiveController(ctx)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("SIGKILL %s (active controller) for %v, then start", n.Container, s.cfg.Hold), s.killAndRestart(ctx, n)
}

func killGroupCoordinator(ctx context.Context, s *Suite) (string, error) {
	if len(s.groups) == 0 {
		return "", fmt.Errorf("no consumer group runs")
	}
	g := s.groups[0].Name()
	n, err := s.cluster.GroupCoordinator(ctx, g)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("SIGKILL %s (coordinator of group %s) for %v, then start", n.Container, g, s.cfg.Hold), s.killAndRestart(ctx, n)
}

func killMetaLeader(ctx context.Context, s *Suite) (string, error) {
	n, err := s.cluster.MetaLeader(ctx)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("SIGKILL %s (strand-meta raft leader) for %v, then start", n.Container, s.cfg.Hold), s.killAndRestart(ctx, n)
}

func pauseDataNode(ctx context.Context, s *Suite) (string, error) {
	tp := TP{s.cfg.Topics[len(s.cfg.Topics)/2], 0}
	n, err := s.cluster.PartitionLeader(ctx, tp)
	if err != nil {
		return "", err
	}
	what := fmt.Sprintf("docker pause %s (leader of %s) for %v, then unpause", n.Container, tp, s.cfg.Pause)
	if err := s.cfg.Docker.Pause(ctx, n.Container); err != nil {
		return what, err
	}
	if err := s.hold(ctx, s.cfg.Pause); err != nil {
		return what, err
	}
	return what, s.cfg.Docker.Unpause(ctx, n.Container)
}

// isolate disconnects a node from the network for hold, then reconnects it
// at its address.
func (s *Suite) isolate(ctx context.Context, n Node) error {
	if err := s.cfg.Docker.Disconnect(ctx, n.Container); err != nil {
		return err
	}
	if err := s.hold(ctx, s.cfg.Hold); err != nil {
		return err
	}
	return s.cfg.Docker.Connect(ctx, n.Container, n.IP)
}

func partitionDataNode(ctx context.Context, s *Suite) (string, error) {
	tp := TP{s.cfg.Topics[len(s.cfg.Topics)-1], 0}
	n, err := s.cluster.PartitionLeader(ctx, tp)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("disconnect %s (leader of %s) from the network for %v, then reconnect", n.Container, tp, s.cfg.Hold), s.isolate(ctx, n)
}

func partitionMetaLeader(ctx context.Context, s *Suite) (string, error) {
	n, err := s.cluster.MetaLeader(ctx)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("disconnect %s (strand-meta raft leader) from the majority for %v, then reconnect", n.Container, s.cfg.Hold), s.isolate(ctx, n)
}

// stopGrace is how long a full stop lets each container shut down
// gracefully before docker sends SIGKILL (an orchestrator's grace period;
// every binary's own shutdown timeouts are shorter).
const stopGrace = 15 * time.Second

// fullRestart stops every container at once (SIGTERM, then SIGKILL after
// stopGrace) and starts them all again: strand-meta first.
func fullRestart(ctx context.Context, s *Suite) (string, error) {
	var wg sync.WaitGroup
	errs := make([]error, len(s.cluster.Nodes))
	for i, n := range s.cluster.Nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = s.cfg.Docker.Stop(ctx, n.Container, stopGrace)
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return "", err
		}
	}
	what := fmt.Sprintf("docker stop of all %d containers at once, then start (strand-meta first, each role's containers together)", len(s.cluster.Nodes))
	for _, role := range []string{RoleMeta, RoleController, RoleData, RoleCoordinator} {
		nodes := s.cluster.Role(role)
		errs := make([]error, len(nodes))
		for i, n := range nodes {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs[i] = s.cfg.Docker.Start(ctx, n.Container)
			}()
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			return what, err
		}
	}
	return what, nil
}
