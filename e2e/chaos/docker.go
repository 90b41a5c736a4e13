package chaos

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"strings"
	"time"
)

// Docker injects faults into the compose cluster's containers through the
// docker command line. Its methods are safe for concurrent use (each runs
// one docker command).
type Docker struct {
	// Network is the compose cluster's network (deploy/compose: "strand").
	Network string
	// Bin is the docker command (default "docker").
	Bin string
}

func (d *Docker) run(ctx context.Context, args ...string) (string, error) {
	bin := d.Bin
	if bin == "" {
		bin = "docker"
	}
	cmd := exec.CommandContext(ctx, bin, args...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("docker %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(errOut.String()))
	}
	return out.String(), nil
}

// Kill sends SIGKILL to the container's process.
func (d *Docker) Kill(ctx context.Context, container string) error {
	_, err := d.run(ctx, "kill", "--signal", "KILL", container)
	return err
}

// Stop sends SIGTERM and waits up to grace for the container to exit
// (then SIGKILL).
func (d *Docker) Stop(ctx context.Context, container string, grace time.Duration) error {
	_, err := d.run(ctx, "stop", "--time", fmt.Sprint(int(grace.Seconds())), container)
	return err
}

// Start starts a stopped container on its data.
func (d *Docker) Start(ctx context.Context, container string) error {
	_, err := d.run(ctx, "start", container)
	return err
}

// pauseAttempts bounds the tries of a pause the freezer refuses.
const pauseAttempts = 10

// Pause freezes every process of the container (SIGSTOP-like, through the
// cgroup freezer): it holds its sockets but answers nothing. The freezer
// gives up ("unable to freeze") when a task does not stop in time, as one
// inside a slow fsync may not; runc then thaws the container, and Pause
// tries again, a little later, up to pauseAttempts times.
func (d *Docker) Pause(ctx context.Context, container string) error {
	var err error
	for attempt := 1; attempt <= pauseAttempts; attempt++ {
		if _, err = d.run(ctx, "pause", container); err == nil || !strings.Contains(err.Error(), "unable to freeze") {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(time.Duration(attempt) * 100 * time.Millisecond):
		}
	}
	return err
}

// Unpause thaws a paused container.
func (d *Docker) Unpause(ctx context.Context, container string) error {
	_, err := d.run(ctx, "unpause", container)
	return err
}

// Disconnect cuts the container off the cluster's network: it keeps
// running but reaches no one and no one reaches it.
func (d *Docker) Disconnect(ctx context.Context, container string) error {
	_, err := d.run(ctx, "network", "disconnect", d.Network, container)
	return err
}

// Connect puts the container back on the network at its fixed address.
func (d *Docker) Connect(ctx context.Context, container, ip string) error {
	_, err := d.run(ctx, "network", "connect", "--ip", ip, d.Network, container)
	return err
}

// State returns the container's state (running, paused, exited, ...).
func (d *Docker) State(ctx context.Context, container string) (string, error) {
	out, err := d.run(ctx, "inspect", "--format", "{{.State.Status}}", container)
	return strings.TrimSpace(out), err
}

// Addresses maps each container attached to the network, running or not,
// to its IPv4 address (the fixed one it was given, else the current one).
func (d *Docker) Addresses(ctx context.Context) (map[string]string, error) {
	out, err := d.run(ctx, "ps", "--all", "--quiet", "--filter", "network="+d.Network)
	if err != nil {
		return nil, err
	}
	ids := strings.Fields(out)
	m := map[string]string{}
	if len(ids) == 0 {
		return m, nil
	}
	format := `{{.Name}} {{with index .NetworkSettings.Networks "` + d.Network + `"}}` +
		`{{if .IPAMConfig}}{{.IPAMConfig.IPv4Address}}{{end}} {{.IPAddress}}{{end}}`
	out, err = d.run(ctx, append([]string{"inspect", "--format", format}, ids...)...)
	if err != nil {
		return nil, err
	}
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		m[strings.TrimPrefix(f[0], "/")] = f[1]
	}
	return m, nil
}

// CopyFrom copies a path out of a container (running or not) into dst.
func (d *Docker) CopyFrom(ctx context.Context, container, src, dst string) error {
	_, err := d.run(ctx, "cp", container+":"+src, dst)
	return err
}

// Logs returns the container's logs (stdout and stderr).
func (d *Docker) Logs(ctx context.Context, container string) ([]byte, error) {
	bin := d.Bin
	if bin == "" {
		bin = "docker"
	}
	cmd := exec.CommandContext(ctx, bin, "logs", "--timestamps", container)
	cmd.WaitDelay = 5 * time.Second
	return cmd.CombinedOutput()
}
