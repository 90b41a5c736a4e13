package deploy

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// The subset of the Kubernetes objects the checks read.

type k8sMeta struct {
	Name      string            `yaml:"name"`
	Namespace string            `yaml:"namespace"`
	Labels    map[string]string `yaml:"labels"`
}

// intOrString is a port given by number or name.
type intOrString string

func (v *intOrString) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("line %d: want a number or a name", n.Line)
	}
	*v = intOrString(n.Value)
	return nil
}

type k8sObject struct {
	APIVersion string  `yaml:"apiVersion"`
	Kind       string  `yaml:"kind"`
	Metadata   k8sMeta `yaml:"metadata"`
	file       string
	node       yaml.Node
}

type k8sService struct {
	Spec struct {
		ClusterIP                string            `yaml:"clusterIP"`
		PublishNotReadyAddresses bool              `yaml:"publishNotReadyAddresses"`
		Selector                 map[string]string `yaml:"selector"`
		Ports                    []struct {
			Name       string      `yaml:"name"`
			Port       int         `yaml:"port"`
			TargetPort intOrString `yaml:"targetPort"`
			Protocol   string      `yaml:"protocol"`
		} `yaml:"ports"`
	} `yaml:"spec"`
}

type k8sWorkload struct {
	Spec struct {
		Replicas    int    `yaml:"replicas"`
		ServiceName string `yaml:"serviceName"`
		Selector    struct {
			MatchLabels map[string]string `yaml:"matchLabels"`
		} `yaml:"selector"`
		Template struct {
			Metadata k8sMeta `yaml:"metadata"`
			Spec     struct {
				Containers      []k8sContainer `yaml:"containers"`
				SecurityContext struct {
					RunAsNonRoot *bool `yaml:"runAsNonRoot"`
					RunAsUser    *int  `yaml:"runAsUser"`
				} `yaml:"securityContext"`
				Volumes []struct {
					Name string `yaml:"name"`
				} `yaml:"volumes"`
			} `yaml:"spec"`
		} `yaml:"template"`
		VolumeClaimTemplates []struct {
			Metadata k8sMeta `yaml:"metadata"`
		} `yaml:"volumeClaimTemplates"`
	} `yaml:"spec"`
}

type k8sContainer struct {
	Name  string `yaml:"name"`
	Image string `yaml:"image"`
	Env   []struct {
		Name      string `yaml:"name"`
		Value     string `yaml:"value"`
		ValueFrom *struct {
			FieldRef *struct {
				FieldPath string `yaml:"fieldPath"`
			} `yaml:"fieldRef"`
		} `yaml:"valueFrom"`
	} `yaml:"env"`
	EnvFrom []struct {
		ConfigMapRef *struct {
			Name string `yaml:"name"`
		} `yaml:"configMapRef"`
	} `yaml:"envFrom"`
	Ports []struct {
		Name          string `yaml:"name"`
		ContainerPort int    `yaml:"containerPort"`
		Protocol      string `yaml:"protocol"`
	} `yaml:"ports"`
	ReadinessProbe *k8sProbe `yaml:"readinessProbe"`
	LivenessProbe  *k8sProbe `yaml:"livenessProbe"`
	StartupProbe   *k8sProbe `yaml:"startupProbe"`
	Resources      struct {
		Requests map[string]string `yaml:"requests"`
	} `yaml:"resources"`
	VolumeMounts []struct {
		Name      string `yaml:"name"`
		MountPath string `yaml:"mountPath"`
	} `yaml:"volumeMounts"`
}

type k8sProbe struct {
	HTTPGet *struct {
		Path string      `yaml:"path"`
		Port intOrString `yaml:"port"`
	} `yaml:"httpGet"`
}

type k8sPDB struct {
	Spec struct {
		MinAvailable   *intOrString `yaml:"minAvailable"`
		MaxUnavailable *intOrString `yaml:"maxUnavailable"`
		Selector       struct {
			MatchLabels map[string]string `yaml:"matchLabels"`
		} `yaml:"selector"`
	} `yaml:"spec"`
}

type k8sConfigMap struct {
	Data map[string]string `yaml:"data"`
}

// loadManifests reads every document of deploy/k8s/*.yaml but the
// kustomization, and checks the kustomization lists exactly those files.
func loadManifests(t *testing.T) []k8sObject {
	t.Helper()
	var objs []k8sObject
	files := map[string]bool{}
	for _, path := range globRepo(t, "deploy/k8s/*.yaml") {
		base := filepath.Base(path)
		if base == "kustomization.yaml" {
			continue
		}
		files[base] = true
		dec := yaml.NewDecoder(bytes.NewReader(readRepo(t, "deploy/k8s/"+base)))
		for {
			var node yaml.Node
			err := dec.Decode(&node)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("%s: %v", base, err)
			}
			var o k8sObject
			if err := node.Decode(&o); err != nil {
				t.Fatalf("%s: %v", base, err)
			}
			o.file, o.node = base, node
			objs = append(objs, o)
		}
	}
	var kust struct {
		Namespace string   `yaml:"namespace"`
		Resources []string `yaml:"resources"`
	}
	if err := yaml.Unmarshal(readRepo(t, "deploy/k8s/kustomization.yaml"), &kust); err != nil {
		t.Fatalf("kustomization.yaml: %v", err)
	}
	listed := map[string]bool{}
	for _, r := range kust.Resources {
		listed[r] = true
		if !files[r] {
			t.Errorf("kustomization.yaml lists %s, which does not exist", r)
		}
	}
	for f := range files {
		if !listed[f] {
			t.Errorf("kustomization.yaml does not list %s", f)
		}
	}
	if kust.Namespace != "strand" {
		t.Errorf("kustomization.yaml: namespace %q, want strand", kust.Namespace)
	}
	return objs
}

func decodeAs[T any](t *testing.T, o k8sObject) T {
	t.Helper()
	var v T
	if err := o.node.Decode(&v); err != nil {
		t.Fatalf("%s %s (%s): %v", o.Kind, o.Metadata.Name, o.file, err)
	}
	return v
}

// subset reports whether every label of sel is in labels (and sel is not
// empty).
func subset(sel, labels map[string]string) bool {
	if len(sel) == 0 {
		return false
	}
	for k, v := range sel {
		if labels[k] != v {
			return false
		}
	}
	return true
}

var envRefRe = regexp.MustCompile(`\$\(([A-Za-z_][A-Za-z0-9_]*)\)`)

// workload is a StatefulSet or Deployment with its one container.
type workload struct {
	kind, name string
	w          k8sWorkload
	c          k8sContainer
	env        map[string]string // literal values and $(refs) as written
	fieldRefs  map[string]string // env name -> fieldPath
	ports      map[string]int    // port name -> containerPort ("name/proto" keys too)
}

// TestK8sManifests checks the Kubernetes manifests: every object parses and
// belongs to the strand namespace and part-of label; StatefulSets for
// strand-meta and strand-data with headless services, volume claims and
// stable names; Deployments for the controllers and coordinators; every
// selector (workloads, services, PDBs) matches the pod labels it means;
// every service's target port is a container port; probes on /healthz at
// the API port; resource requests; environment variables the binaries accept
// and addresses that name existing pods, services and ports.
func TestK8sManifests(t *testing.T) {
	objs := loadManifests(t)
	names := map[string]bool{}
	services := map[string]k8sService{}
	configMaps := map[string]k8sConfigMap{}
	var pdbs []k8sObject
	var workloads []*workload
	for _, o := range objs {
		key := o.Kind + "/" + o.Metadata.Name
		if o.Metadata.Name == "" {
			t.Errorf("%s: a %s without a name", o.file, o.Kind)
		}
		if names[key] {
			t.Errorf("%s: %s is defined twice", o.file, key)
		}
		names[key] = true
		if o.Kind != "Namespace" && o.Metadata.Namespace != "strand" {
			t.Errorf("%s: %s is in namespace %q, want strand", o.file, key, o.Metadata.Namespace)
		}
		if o.Metadata.Labels["app.kubernetes.io/part-of"] != "strand" {
			t.Errorf("%s: %s lacks the label app.kubernetes.io/part-of: strand", o.file, key)
		}
		switch o.Kind {
		case "Service":
			services[o.Metadata.Name] = decodeAs[k8sService](t, o)
		case "ConfigMap":
			configMaps[o.Metadata.Name] = decodeAs[k8sConfigMap](t, o)
		case "PodDisruptionBudget":
			if o.APIVersion != "policy/v1" {
				t.Errorf("%s: %s apiVersion %s, want policy/v1", o.file, key, o.APIVersion)
			}
			pdbs = append(pdbs, o)
		case "StatefulSet", "Deployment":
			if o.APIVersion != "apps/v1" {
				t.Errorf("%s: %s apiVersion %s, want apps/v1", o.file, key, o.APIVersion)
			}
			wl := &workload{kind: o.Kind, name: o.Metadata.Name, w: decodeAs[k8sWorkload](t, o),
				env: map[string]string{}, fieldRefs: map[string]string{}, ports: map[string]int{}}
			cs := wl.w.Spec.Template.Spec.Containers
			if len(cs) != 1 {
				t.Errorf("%s: %s has %d containers, want 1", o.file, key, len(cs))
				continue
			}
			wl.c = cs[0]
			workloads = append(workloads, wl)
		case "Namespace":
		default:
			t.Errorf("%s: unexpected kind %s", o.file, o.Kind)
		}
	}

	wantKind := map[string]string{"strand-meta": "StatefulSet", "strand-data": "StatefulSet",
		"strand-controller": "Deployment", "strand-coordinator": "Deployment"}
	byName := map[string]*workload{}
	for _, wl := range workloads {
		byName[wl.name] = wl
	}
	for name, kind := range wantKind {
		if wl, ok := byName[name]; !ok || wl.kind != kind {
			t.Errorf("want a %s named %s", kind, name)
		}
	}

	for _, wl := range workloads {
		where := wl.kind + "/" + wl.name
		spec := wl.w.Spec
		labels := spec.Template.Metadata.Labels
		if !subset(spec.Selector.MatchLabels, labels) {
			t.Errorf("%s: selector %v does not match the pod labels %v", where, spec.Selector.MatchLabels, labels)
		}
		if spec.Replicas < 2 {
			t.Errorf("%s: %d replicas; every role runs at least two", where, spec.Replicas)
		}
		c := wl.c
		binary := composeImageBinary(c.Image)
		if binary != wl.name || c.Name != binary {
			t.Errorf("%s: container %s runs image %s; want container and image strand/%s", where, c.Name, c.Image, wl.name)
		}
		if _, ok := binaries[binary]; !ok {
			continue
		}
		sc := spec.Template.Spec.SecurityContext
		if sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot || sc.RunAsUser == nil || *sc.RunAsUser == 0 {
			t.Errorf("%s: the pod must run as a non-root user (runAsNonRoot, runAsUser)", where)
		}
		for _, p := range c.Ports {
			proto := p.Protocol
			if proto == "" {
				proto = "TCP"
			}
			if _, dup := wl.ports[p.Name]; dup || p.Name == "" {
				t.Errorf("%s: container port name %q is empty or used twice", where, p.Name)
			}
			wl.ports[p.Name] = p.ContainerPort
			wl.ports[strconv.Itoa(p.ContainerPort)+"/"+proto] = p.ContainerPort
		}
		// Environment: $(X) references must name a variable defined before.
		var names []string
		for _, e := range c.Env {
			names = append(names, e.Name)
			if e.ValueFrom != nil {
				if e.ValueFrom.FieldRef == nil {
					t.Errorf("%s: env %s: only fieldRef values are expected", where, e.Name)
					continue
				}
				wl.fieldRefs[e.Name] = e.ValueFrom.FieldRef.FieldPath
				wl.env[e.Name] = "$(" + e.Name + ")"
				continue
			}
			for _, m := range envRefRe.FindAllStringSubmatch(e.Value, -1) {
				if _, ok := wl.env[m[1]]; !ok {
					t.Errorf("%s: env %s refers to $(%s), which is not defined before it", where, e.Name, m[1])
				}
			}
			wl.env[e.Name] = e.Value
		}
		checkEnvNames(t, where, binary, names)
		for _, ef := range c.EnvFrom {
			if ef.ConfigMapRef == nil {
				t.Errorf("%s: only configMapRef envFrom is expected", where)
				continue
			}
			cm, ok := configMaps[ef.ConfigMapRef.Name]
			if !ok {
				t.Errorf("%s: envFrom names ConfigMap %s, which is not defined", where, ef.ConfigMapRef.Name)
				continue
			}
			checkEnvNames(t, "ConfigMap/"+ef.ConfigMapRef.Name, binary, sortedKeys(cm.Data))
			for k, v := range cm.Data {
				if _, set := wl.env[k]; !set {
					wl.env[k] = v
				}
			}
		}
		for k, v := range imageDefaults(t, binary) {
			if _, set := wl.env[k]; !set {
				wl.env[k] = v
			}
		}
		// Listening ports are container ports; advertised ports agree.
		for _, k := range []string{"STRAND_LISTEN", "STRAND_PEER_LISTEN", "STRAND_GOSSIP_BIND"} {
			if v, ok := wl.env[k]; ok {
				if _, found := wl.ports[strconv.Itoa(portOf(v))+"/TCP"]; !found {
					t.Errorf("%s: %s=%s but the container declares no TCP port %d", where, k, v, portOf(v))
				}
			}
		}
		if v, ok := wl.env["STRAND_GOSSIP_BIND"]; ok {
			if _, found := wl.ports[strconv.Itoa(portOf(v))+"/UDP"]; !found {
				t.Errorf("%s: gossip on %s but the container declares no UDP port %d", where, v, portOf(v))
			}
			if labels["strand.dev/gossip"] != "true" {
				t.Errorf("%s: gossips but its pods lack the label strand.dev/gossip: \"true\" (the strand-gossip service)", where)
			}
		}
		checkBindAdvertise(t, where, wl.env)
		// Probes on /healthz at the API port.
		apiPort := portOf(wl.env["STRAND_LISTEN"])
		for kind, p := range map[string]*k8sProbe{"readiness": c.ReadinessProbe, "liveness": c.LivenessProbe, "startup": c.StartupProbe} {
			if kind == "startup" && p == nil {
				continue // optional
			}
			if p == nil || p.HTTPGet == nil {
				t.Errorf("%s: no %s probe with httpGet", where, kind)
				continue
			}
			if p.HTTPGet.Path != "/healthz" {
				t.Errorf("%s: %s probe path %s, want /healthz", where, kind, p.HTTPGet.Path)
			}
			port, ok := wl.ports[string(p.HTTPGet.Port)]
			if n, err := strconv.Atoi(string(p.HTTPGet.Port)); err == nil {
				port, ok = n, true
			}
			if !ok || port != apiPort {
				t.Errorf("%s: %s probe port %s is not the API port %d (STRAND_LISTEN)", where, kind, p.HTTPGet.Port, apiPort)
			}
		}
		for _, r := range []string{"cpu", "memory"} {
			if c.Resources.Requests[r] == "" {
				t.Errorf("%s: no %s request", where, r)
			}
		}
		// Volumes: every mount is a claim template or a pod volume; the data
		// directory is mounted.
		vols := map[string]bool{}
		for _, v := range spec.VolumeClaimTemplates {
			vols[v.Metadata.Name] = true
		}
		for _, v := range spec.Template.Spec.Volumes {
			vols[v.Name] = true
		}
		mounted := map[string]bool{}
		for _, m := range c.VolumeMounts {
			if !vols[m.Name] {
				t.Errorf("%s: mounts volume %s, which is neither a claim template nor a pod volume", where, m.Name)
			}
			mounted[m.MountPath] = true
		}
		if dir, ok := wl.env["STRAND_DATA_DIR"]; ok {
			if wl.kind != "StatefulSet" || len(spec.VolumeClaimTemplates) == 0 {
				t.Errorf("%s: keeps state (STRAND_DATA_DIR) so must be a StatefulSet with a volume claim", where)
			}
			if !mounted[dir] {
				t.Errorf("%s: STRAND_DATA_DIR=%s is not a volume mount", where, dir)
			}
		}
		if wl.kind == "StatefulSet" {
			svc, ok := services[spec.ServiceName]
			switch {
			case !ok:
				t.Errorf("%s: serviceName %q is not a Service", where, spec.ServiceName)
			case svc.Spec.ClusterIP != "None":
				t.Errorf("%s: its service %s is not headless (clusterIP: None)", where, spec.ServiceName)
			case !svc.Spec.PublishNotReadyAddresses:
				t.Errorf("%s: its service %s must publish not-ready addresses (peers find each other before readiness)", where, spec.ServiceName)
			case !subset(svc.Spec.Selector, labels):
				t.Errorf("%s: its service %s selects %v, not its pods", where, spec.ServiceName, svc.Spec.Selector)
			}
		}
	}

	// Services select pods of some workload and target their ports.
	for _, name := range sortedKeys(services) {
		svc := services[name]
		matched := 0
		for _, wl := range workloads {
			if !subset(svc.Spec.Selector, wl.w.Spec.Template.Metadata.Labels) {
				continue
			}
			matched++
			for _, p := range svc.Spec.Ports {
				proto := p.Protocol
				if proto == "" {
					proto = "TCP"
				}
				target := string(p.TargetPort)
				if target == "" {
					target = strconv.Itoa(p.Port)
				}
				cp, ok := wl.ports[target]
				if n, err := strconv.Atoi(target); err == nil {
					cp, ok = wl.ports[strconv.Itoa(n)+"/"+proto]
				} else if ok {
					_, ok = wl.ports[strconv.Itoa(cp)+"/"+proto]
				}
				if !ok {
					t.Errorf("Service/%s port %s: target %s/%s is not a container port of %s", name, p.Name, target, proto, wl.name)
				}
			}
		}
		if matched == 0 {
			t.Errorf("Service/%s selects %v: no workload's pods", name, svc.Spec.Selector)
		}
	}

	// Every workload has a PDB selecting exactly its pods, allowing one
	// disruption but not all.
	covered := map[string]bool{}
	for _, o := range pdbs {
		pdb := decodeAs[k8sPDB](t, o)
		var hits []*workload
		for _, wl := range workloads {
			if subset(pdb.Spec.Selector.MatchLabels, wl.w.Spec.Template.Metadata.Labels) {
				hits = append(hits, wl)
			}
		}
		if len(hits) != 1 {
			t.Errorf("PodDisruptionBudget/%s selects %d workloads, want 1", o.Metadata.Name, len(hits))
			continue
		}
		wl := hits[0]
		covered[wl.name] = true
		replicas := wl.w.Spec.Replicas
		switch {
		case pdb.Spec.MinAvailable != nil:
			n, err := strconv.Atoi(string(*pdb.Spec.MinAvailable))
			if err != nil || n < 1 || n >= replicas {
				t.Errorf("PodDisruptionBudget/%s: minAvailable %s with %d replicas blocks every drain or protects nothing", o.Metadata.Name, *pdb.Spec.MinAvailable, replicas)
			}
		case pdb.Spec.MaxUnavailable != nil:
			n, err := strconv.Atoi(string(*pdb.Spec.MaxUnavailable))
			if err != nil || n < 1 || n >= replicas {
				t.Errorf("PodDisruptionBudget/%s: maxUnavailable %s with %d replicas", o.Metadata.Name, *pdb.Spec.MaxUnavailable, replicas)
			}
		default:
			t.Errorf("PodDisruptionBudget/%s sets neither minAvailable nor maxUnavailable", o.Metadata.Name)
		}
	}
	for _, wl := range workloads {
		if !covered[wl.name] {
			t.Errorf("%s/%s has no PodDisruptionBudget", wl.kind, wl.name)
		}
	}

	checkK8sAddresses(t, workloads, services)
}

// checkK8sAddresses checks that every address in STRAND_META,
// STRAND_INITIAL_CLUSTER and STRAND_JOIN names a pod of a StatefulSet
// (<set>-<ordinal>.<service>, ordinal below the replicas) or a Service, at a
// port they serve; and that strand-meta's raft id, derived from the pod
// ordinal, matches its own entry of the initial cluster.
func checkK8sAddresses(t *testing.T, workloads []*workload, services map[string]k8sService) {
	t.Helper()
	sets := map[string]*workload{}
	for _, wl := range workloads {
		if wl.kind == "StatefulSet" {
			sets[wl.name] = wl
		}
	}
	podRe := regexp.MustCompile(`^(.+)-(\d+)\.([^.]+)$`)
	// resolve checks host:port and returns the workload it lands on.
	resolve := func(where, addr string) *workload {
		host, port, ok := hostPort(addr)
		if !ok {
			t.Errorf("%s: %q is not host:port", where, addr)
			return nil
		}
		if m := podRe.FindStringSubmatch(host); m != nil {
			wl, ok := sets[m[1]]
			ord, _ := strconv.Atoi(m[2])
			switch {
			case !ok:
				t.Errorf("%s: %s: no StatefulSet %s", where, addr, m[1])
				return nil
			case wl.w.Spec.ServiceName != m[3]:
				t.Errorf("%s: %s: StatefulSet %s's service is %s, not %s", where, addr, m[1], wl.w.Spec.ServiceName, m[3])
			case ord >= wl.w.Spec.Replicas:
				t.Errorf("%s: %s: StatefulSet %s has %d replicas", where, addr, m[1], wl.w.Spec.Replicas)
			}
			if _, ok := wl.ports[strconv.Itoa(port)+"/TCP"]; !ok {
				t.Errorf("%s: %s: %s declares no port %d", where, addr, m[1], port)
			}
			return wl
		}
		if strings.Contains(host, ".") {
			t.Errorf("%s: %s: want <statefulset>-<n>.<service> or a service name", where, addr)
			return nil
		}
		svc, ok := services[host]
		if !ok {
			t.Errorf("%s: %s: no Service %s", where, addr, host)
			return nil
		}
		for _, p := range svc.Spec.Ports {
			if p.Port == port {
				return nil
			}
		}
		t.Errorf("%s: %s: Service %s has no port %d", where, addr, host, port)
		return nil
	}
	for _, wl := range workloads {
		where := wl.kind + "/" + wl.name
		if v, ok := wl.env["STRAND_META"]; ok {
			for _, a := range addrList(t, where+" STRAND_META", v) {
				if target := resolve(where+" STRAND_META", a); target != nil && target.name != "strand-meta" {
					t.Errorf("%s: STRAND_META lists %s, a pod of %s", where, a, target.name)
				}
			}
		}
		if v, ok := wl.env["STRAND_JOIN"]; ok && wl.name != "strand-meta" {
			for _, a := range addrList(t, where+" STRAND_JOIN", v) {
				resolve(where+" STRAND_JOIN", a)
				if h, p, _ := hostPort(a); services[h].Spec.ClusterIP == "None" && p != portOf(wl.env["STRAND_GOSSIP_BIND"]) {
					t.Errorf("%s: joins %s but gossips on %s", where, a, wl.env["STRAND_GOSSIP_BIND"])
				}
			}
		}
		v, ok := wl.env["STRAND_INITIAL_CLUSTER"]
		if !ok {
			continue
		}
		members := initialCluster(t, where, v)
		if len(members) != wl.w.Spec.Replicas {
			t.Errorf("%s: %d initial members for %d replicas", where, len(members), wl.w.Spec.Replicas)
		}
		for _, m := range members {
			if target := resolve(where+" STRAND_INITIAL_CLUSTER", m.api); target != nil && target != wl {
				t.Errorf("%s: member %s's API %s is not one of its pods", where, m.id, m.api)
			}
			resolve(where+" STRAND_INITIAL_CLUSTER", m.peer)
			if portOf(m.api) != portOf(wl.env["STRAND_LISTEN"]) || portOf(m.peer) != portOf(wl.env["STRAND_PEER_LISTEN"]) {
				t.Errorf("%s: member %s's ports differ from STRAND_LISTEN / STRAND_PEER_LISTEN", where, m.id)
			}
		}
		// The pod with ordinal i gets the id STRAND_ID with the ordinal
		// substituted; that id's entry must name pod i.
		idTemplate := wl.env["STRAND_ID"]
		indexVar := ""
		for name, path := range wl.fieldRefs {
			if path == "metadata.labels['apps.kubernetes.io/pod-index']" {
				indexVar = name
			}
		}
		if indexVar == "" || !strings.Contains(idTemplate, "$("+indexVar+")") {
			t.Errorf("%s: STRAND_ID=%q is not derived from the pod ordinal", where, idTemplate)
			continue
		}
		for i := 0; i < wl.w.Spec.Replicas; i++ {
			id := strings.ReplaceAll(idTemplate, "$("+indexVar+")", strconv.Itoa(i))
			want := fmt.Sprintf("%s-%d.%s", wl.name, i, wl.w.Spec.ServiceName)
			found := false
			for _, m := range members {
				if m.id == id {
					found = true
					if h, _, _ := hostPort(m.api); h != want {
						t.Errorf("%s: pod %d has raft id %s, whose initial-cluster entry is %s, not %s", where, i, id, m.api, want)
					}
				}
			}
			if !found {
				t.Errorf("%s: pod %d has raft id %s, which the initial cluster does not list", where, i, id)
			}
		}
	}
}
