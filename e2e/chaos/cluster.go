package chaos

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"

	"strand.dev/client/admin"
	"strand.dev/client/wire"
)

// Roles of the cluster's containers, named strand-<role>-<n> in the compose
// cluster.
const (
	RoleMeta        = "meta"
	RoleController  = "controller"
	RoleCoordinator = "coordinator"
	RoleData        = "data"
)

// DefaultAPIPorts are the API ports of each role in deploy/compose.
var DefaultAPIPorts = map[string]int{RoleMeta: 7001, RoleController: 7201, RoleCoordinator: 7401, RoleData: 9001}

// Node is one container of the cluster.
type Node struct {
	Container string // strand-data-1
	Role      string // data
	IP        string
	API       string // ip:port of its HTTP API
}

// Cluster finds who does what in the compose cluster: partition leaders,
// the active controller, the strand-meta raft leader, group coordinators,
// and whether everything is healthy. Safe for concurrent use after
// NewCluster.
type Cluster struct {
	Nodes  []Node
	byIP   map[string]Node
	admin  *admin.Admin
	client *http.Client
}

// maxAnswerBytes bounds any JSON answer read.
const maxAnswerBytes = 16 << 20

// NewCluster discovers the containers on the docker network (every one
// must be connected and running) and connects an admin client to the
// strand-meta nodes.
func NewCluster(ctx context.Context, d *Docker, ports map[string]int) (*Cluster, error) {
	addrs, err := d.Addresses(ctx)
	if err != nil {
		return nil, err
	}
	c := &Cluster{byIP: map[string]Node{}, client: &http.Client{Timeout: 5 * time.Second}}
	var meta []string
	for name, ip := range addrs {
		rest, ok := strings.CutPrefix(name, "strand-")
		if !ok {
			continue
		}
		i := strings.LastIndexByte(rest, '-')
		if i < 0 {
			continue
		}
		role := rest[:i]
		port, ok := ports[role]
		if !ok {
			continue
		}
		n := Node{Container: name, Role: role, IP: ip, API: net.JoinHostPort(ip, fmt.Sprint(port))}
		c.Nodes = append(c.Nodes, n)
		c.byIP[ip] = n
		if role == RoleMeta {
			meta = append(meta, n.API)
		}
	}
	sort.Slice(c.Nodes, func(i, j int) bool { return c.Nodes[i].Container < c.Nodes[j].Container })
	if len(meta) == 0 {
		return nil, fmt.Errorf("no strand-meta container on network %s", d.Network)
	}
	sort.Strings(meta)
	if c.admin, err = admin.New(admin.Bootstrap(meta...), admin.RetryTimeout(10*time.Second)); err != nil {
		return nil, err
	}
	return c, nil
}

// Close releases the admin client.
func (c *Cluster) Close() { c.admin.Close() }

// Admin is the cluster's admin client.
func (c *Cluster) Admin() *admin.Admin { return c.admin }

// Role lists the nodes of a role.
func (c *Cluster) Role(role string) []Node {
	var out []Node
	for _, n := range c.Nodes {
		if n.Role == role {
			out = append(out, n)
		}
	}
	return out
}

// Bootstrap is the strand-meta API addresses, for clients.
func (c *Cluster) Bootstrap() []string {
	var out []string
	for _, n := range c.Role(RoleMeta) {
		out = append(out, n.API)
	}
	return out
}

// NodeOfAddr returns the node listening at host:port (by its address).
func (c *Cluster) NodeOfAddr(addr string) (Node, bool) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		host = addr
	}
	n, ok := c.byIP[host]
	return n, ok
}

// getJSON GETs http://addr/path?query into out. Errors are *wire.Error when
// the node answered one.
func (c *Cluster) getJSON(ctx context.Context, addr, path string, q url.Values, out any) error {
	return c.doJSON(ctx, http.MethodGet, addr, path, q, nil, out)
}

func (c *Cluster) doJSON(ctx context.Context, method, addr, path string, q url.Values, in, out any) error {
	u := url.URL{Scheme: "http", Host: addr, Path: path, RawQuery: q.Encode()}
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = strings.NewReader(string(b))
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), body)
	if err != nil {
		return err
	}
	if in != nil {
		req.Header.Set("Content-Type", wire.ContentTypeJSON)
	}
	resp, err := c.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswerBytes))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return wire.UnmarshalError(resp.StatusCode, b)
	}
	if out == nil {
		return nil
	}
	return json.Unmarshal(b, out)
}

// healthy reports whether the node's /healthz answers 200.
func (c *Cluster) healthy(ctx context.Context, n Node) bool {
	return c.getJSON(ctx, n.API, wire.PathHealth, nil, nil) == nil
}

// MetaLeader returns the strand-meta raft leader (the leader of the highest
// term among the nodes that answer).
func (c *Cluster) MetaLeader(ctx context.Context) (Node, error) {
	var best wire.MetaStatus
	var leader Node
	found := false
	for _, n := range c.Role(RoleMeta) {
		var st wire.MetaStatus
		if err := c.getJSON(ctx, n.API, wire.PathMetaStatus, nil, &st); err != nil {
			continue
		}
		if st.State == "StateLeader" && (!found || st.Term > best.Term) {
			best, leader, found = st, n, true
		}
	}
	if !found {
		return Node{}, errors.New("no strand-meta node says it leads")
	}
	return leader, nil
}

// ActiveController returns the controller that holds the lease.
func (c *Cluster) ActiveController(ctx context.Context) (Node, error) {
	var best wire.ControllerStatus
	var active Node
	found := false
	for _, n := range c.Role(RoleController) {
		var st wire.ControllerStatus
		if err := c.getJSON(ctx, n.API, wire.PathControllerStatus, nil, &st); err != nil {
			continue
		}
		if st.Active && (!found || st.Epoch > best.Epoch) {
			best, active, found = st, n, true
		}
	}
	if !found {
		return Node{}, errors.New("no controller is active")
	}
	return active, nil
}

// Metadata is the cluster metadata derived from strand-meta's image, read
// linearizably from the first strand-meta node that answers (not from a
// client's cache or a data node's copy, which may lag behind a fault).
func (c *Cluster) Metadata(ctx context.Context) (*wire.Metadata, error) {
	var lastErr error = errors.New("no strand-meta container")
	for _, n := range c.Role(RoleMeta) {
		var img wire.Image
		if err := c.getJSON(ctx, n.API, wire.PathMetaImage, nil, &img); err != nil {
			lastErr = err
			continue
		}
		md := img.Metadata()
		return &md, nil
	}
	return nil, fmt.Errorf("strand-meta image: %w", lastErr)
}

// PartitionLeader returns the data node leading tp.
func (c *Cluster) PartitionLeader(ctx context.Context, tp TP) (Node, error) {
	md, err := c.Metadata(ctx)
	if err != nil {
		return Node{}, err
	}
	t, ok := md.Topic(tp.Topic)
	if !ok || int(tp.Partition) >= len(t.Partitions) {
		return Node{}, fmt.Errorf("%s is not in the metadata", tp)
	}
	for _, p := range t.Partitions {
		if p.Partition != tp.Partition {
			continue
		}
		ni, ok := md.Node(p.Leader)
		if p.Leader < 0 || !ok {
			return Node{}, fmt.Errorf("%s has no leader", tp)
		}
		n, ok := c.NodeOfAddr(ni.Addr)
		if !ok {
			return Node{}, fmt.Errorf("%s's leader %d at %s is no container", tp, p.Leader, ni.Addr)
		}
		return n, nil
	}
	return Node{}, fmt.Errorf("%s is not in the metadata", tp)
}

// GroupCoordinator returns the coordinator owning group.
func (c *Cluster) GroupCoordinator(ctx context.Context, group string) (Node, error) {
	var lastErr error = errors.New("no coordinator container")
	for _, n := range c.Role(RoleCoordinator) {
		var fc wire.FindCoordinatorResponse
		err := c.getJSON(ctx, n.API, wire.PathGroupCoordinator, url.Values{wire.ParamGroup: {group}}, &fc)
		if err != nil {
			lastErr = err
			continue
		}
		owner, ok := c.NodeOfAddr(fc.Addr)
		if !ok {
			return Node{}, fmt.Errorf("group %s's coordinator %s is no container", group, fc.Addr)
		}
		return owner, nil
	}
	return Node{}, lastErr
}

// LocalPartitions asks a data node which replicas it holds.
func (c *Cluster) LocalPartitions(ctx context.Context, n Node) (*wire.LocalPartitionsResponse, error) {
	var lp wire.LocalPartitionsResponse
	if err := c.getJSON(ctx, n.API, wire.PathAdminPartitions, nil, &lp); err != nil {
		return nil, err
	}
	return &lp, nil
}

// Healthy returns nil when every node answers /healthz, strand-meta has a
// leader, a controller is active, every data node is registered and
// unfenced, and every partition of the topics has a leader and a full ISR;
// otherwise an error saying what is not yet so.
func (c *Cluster) Healthy(ctx context.Context, topics []string) error {
	var problems []string
	for _, n := range c.Nodes {
		if !c.healthy(ctx, n) {
			problems = append(problems, n.Container+" not healthy")
		}
	}
	if _, err := c.MetaLeader(ctx); err != nil {
		problems = append(problems, err.Error())
	}
	if _, err := c.ActiveController(ctx); err != nil {
		problems = append(problems, err.Error())
	}
	md, err := c.Metadata(ctx)
	if err != nil {
		return fmt.Errorf("metadata: %w (and %s)", err, strings.Join(problems, ", "))
	}
	live := 0
	for _, ni := range md.Nodes {
		if !ni.Fenced {
			live++
		}
	}
	if want := len(c.Role(RoleData)); live != want {
		problems = append(problems, fmt.Sprintf("%d of %d data nodes unfenced", live, want))
	}
	for _, name := range topics {
		t, ok := md.Topic(name)
		if !ok {
			problems = append(problems, "topic "+name+" missing")
			continue
		}
		for _, p := range t.Partitions {
			if p.Leader < 0 {
				problems = append(problems, fmt.Sprintf("%s-%d has no leader", name, p.Partition))
			} else if len(p.ISR) < len(p.Replicas) {
				problems = append(problems, fmt.Sprintf("%s-%d ISR %v of replicas %v", name, p.Partition, p.ISR, p.Replicas))
			}
		}
	}
	if len(problems) > 0 {
		return errors.New(strings.Join(problems, "; "))
	}
	return nil
}

// WaitHealthy polls Healthy until it passes or timeout ends; it returns how
// long that took, or the last problem.
func (c *Cluster) WaitHealthy(ctx context.Context, topics []string, timeout time.Duration) (time.Duration, error) {
	start := time.Now()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		err := c.Healthy(ctx, topics)
		if err == nil {
			return time.Since(start), nil
		}
		select {
		case <-ctx.Done():
			return time.Since(start), fmt.Errorf("not healthy after %v: %w", timeout, err)
		case <-time.After(500 * time.Millisecond):
		}
	}
}
