// Package k8s holds the Kubernetes manifests (the YAML files here and in
// autoscale/) and their offline check: every document decodes strictly into
// its k8s.io/api type (an unknown or misspelt field is an error), passes the
// checks below, and every MESH_* variable and flag is one `mesh join` has.
package k8s

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/yaml"

	"github.com/meshcompute/mesh/deploy/image"
	"github.com/meshcompute/mesh/deploy/internal/meshbin"
)

type manifests struct {
	services []*corev1.Service
	sets     []*appsv1.StatefulSet
	pdbs     []*policyv1.PodDisruptionBudget
	hpas     []*autoscalingv2.HorizontalPodAutoscaler
}

// newObject returns the typed object for a document's apiVersion and kind.
func newObject(tm metav1.TypeMeta) (any, error) {
	switch tm.APIVersion + " " + tm.Kind {
	case "v1 Service":
		return &corev1.Service{}, nil
	case "apps/v1 StatefulSet":
		return &appsv1.StatefulSet{}, nil
	case "policy/v1 PodDisruptionBudget":
		return &policyv1.PodDisruptionBudget{}, nil
	case "autoscaling/v2 HorizontalPodAutoscaler":
		return &autoscalingv2.HorizontalPodAutoscaler{}, nil
	}
	return nil, fmt.Errorf("apiVersion %q kind %q: not a type this check knows (add it to newObject)", tm.APIVersion, tm.Kind)
}

var docSep = regexp.MustCompile(`(?m)^---\s*$`)

func load(t *testing.T) manifests {
	t.Helper()
	files, _ := filepath.Glob("*.yaml")
	more, _ := filepath.Glob("*/*.yaml")
	files = append(files, more...)
	if len(files) == 0 {
		t.Fatal("no manifests found")
	}
	var m manifests
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for i, doc := range docSep.Split(string(data), -1) {
			if strings.TrimSpace(stripComments(doc)) == "" {
				continue
			}
			where := fmt.Sprintf("%s document %d", f, i+1)
			var tm metav1.TypeMeta
			if err := yaml.Unmarshal([]byte(doc), &tm); err != nil {
				t.Fatalf("%s: %v", where, err)
			}
			obj, err := newObject(tm)
			if err != nil {
				t.Fatalf("%s: %v", where, err)
			}
			// Strict: unknown and duplicate fields are errors, as with
			// kubectl apply --validate=strict.
			if err := yaml.UnmarshalStrict([]byte(doc), obj); err != nil {
				t.Fatalf("%s (%s): %v", where, tm.Kind, err)
			}
			meta := obj.(metav1.Object)
			if errs := validation.IsDNS1123Subdomain(meta.GetName()); len(errs) > 0 {
				t.Errorf("%s: name %q: %v", where, meta.GetName(), errs)
			}
			switch o := obj.(type) {
			case *corev1.Service:
				m.services = append(m.services, o)
			case *appsv1.StatefulSet:
				m.sets = append(m.sets, o)
			case *policyv1.PodDisruptionBudget:
				m.pdbs = append(m.pdbs, o)
			case *autoscalingv2.HorizontalPodAutoscaler:
				m.hpas = append(m.hpas, o)
			}
		}
	}
	return m
}

func stripComments(doc string) string {
	var b strings.Builder
	for _, l := range strings.Split(doc, "\n") {
		if !strings.HasPrefix(strings.TrimSpace(l), "#") {
			b.WriteString(l + "\n")
		}
	}
	return b.String()
}

func env(c corev1.Container, name string) (corev1.EnvVar, bool) {
	i := slices.IndexFunc(c.Env, func(e corev1.EnvVar) bool { return e.Name == name })
	if i < 0 {
		return corev1.EnvVar{}, false
	}
	return c.Env[i], true
}

// portOf resolves a probe's or Service's target port (a number or a name)
// to the container's port number.
func portOf(c corev1.Container, p intstr.IntOrString) int32 {
	if p.Type == intstr.Int {
		return p.IntVal
	}
	for _, cp := range c.Ports {
		if cp.Name == p.StrVal {
			return cp.ContainerPort
		}
	}
	return -1
}

func TestManifests(t *testing.T) {
	m := load(t)
	if len(m.sets) != 1 {
		t.Fatalf("%d StatefulSets, want 1", len(m.sets))
	}
	sts := m.sets[0]
	spec := sts.Spec.Template.Spec
	if len(spec.Containers) != 1 {
		t.Fatalf("%d containers, want 1", len(spec.Containers))
	}
	c := spec.Containers[0]
	podLabels := labels.Set(sts.Spec.Template.Labels)
	sel, err := metav1.LabelSelectorAsSelector(sts.Spec.Selector)
	if err != nil || !sel.Matches(podLabels) {
		t.Errorf("the StatefulSet's selector %v does not match its pods' labels %v (%v)", sts.Spec.Selector, podLabels, err)
	}
	if sts.Spec.PodManagementPolicy != appsv1.ParallelPodManagement {
		t.Errorf("podManagementPolicy %q: want Parallel (after a full stop, OrderedReady waits for mesh-0 to be ready, which needs a majority of the voters)", sts.Spec.PodManagementPolicy)
	}

	// The mesh and dashboard ports, as the node is told to use them.
	meshPort := portOf(c, intstr.FromString("mesh"))
	dashPort := portOf(c, intstr.FromString("dashboard"))
	if meshPort <= 0 || dashPort <= 0 {
		t.Fatalf("the container needs ports named mesh and dashboard: %v", c.Ports)
	}
	if e, _ := env(c, "MESH_LISTEN"); e.Value != fmt.Sprintf("/ip4/0.0.0.0/tcp/%d", meshPort) {
		t.Errorf("MESH_LISTEN %q does not listen on the mesh port %d of all interfaces", e.Value, meshPort)
	}
	if e, _ := env(c, "MESH_DASHBOARD"); e.Value != fmt.Sprintf(":%d", dashPort) {
		t.Errorf("MESH_DASHBOARD %q is not the dashboard port :%d", e.Value, dashPort)
	}

	// Probes: /health on the dashboard port.
	for name, p := range map[string]*corev1.Probe{"readiness": c.ReadinessProbe, "liveness": c.LivenessProbe} {
		if p == nil || p.HTTPGet == nil {
			t.Errorf("%s probe: want an HTTP GET of /health", name)
			continue
		}
		if p.HTTPGet.Path != "/health" || portOf(c, p.HTTPGet.Port) != dashPort {
			t.Errorf("%s probe GETs %s on port %v, want /health on the dashboard port %d", name, p.HTTPGet.Path, p.HTTPGet.Port.String(), dashPort)
		}
	}

	// The headless Service: the pods' DNS names.
	var headless, dashboard *corev1.Service
	for _, s := range m.services {
		if s.Spec.ClusterIP == corev1.ClusterIPNone {
			headless = s
		} else if slices.ContainsFunc(s.Spec.Ports, func(p corev1.ServicePort) bool { return portOf(c, p.TargetPort) == dashPort }) {
			dashboard = s
		}
		if !labels.SelectorFromSet(s.Spec.Selector).Matches(podLabels) || len(s.Spec.Selector) == 0 {
			t.Errorf("Service %s selects %v, not the mesh pods %v", s.Name, s.Spec.Selector, podLabels)
		}
		for _, p := range s.Spec.Ports {
			if portOf(c, p.TargetPort) <= 0 {
				t.Errorf("Service %s port %s targets %s, which the container does not have", s.Name, p.Name, p.TargetPort.String())
			}
		}
	}
	if headless == nil {
		t.Fatal("no headless Service (clusterIP: None)")
	}
	if headless.Name != sts.Spec.ServiceName {
		t.Errorf("the headless Service is %q but the StatefulSet's serviceName is %q", headless.Name, sts.Spec.ServiceName)
	}
	if !headless.Spec.PublishNotReadyAddresses {
		t.Error("the headless Service needs publishNotReadyAddresses: true (pods join each other by name before they are ready)")
	}
	if dashboard == nil {
		t.Error("no Service for the dashboard port")
	}

	// The command: join the first pod by its DNS name on the mesh port.
	wantPeer := fmt.Sprintf("/dns4/%s-0.%s/tcp/%d", sts.Name, headless.Name, meshPort)
	if len(c.Command) != 0 || len(c.Args) != 2 || c.Args[0] != "join" || c.Args[1] != wantPeer {
		t.Errorf("command %q args %q: want the image's entrypoint with args [join %s]", c.Command, c.Args, wantPeer)
	}

	// The secret: a Secret volume mounted, and its file passed as --secret-file.
	secretFile, _ := env(c, "MESH_SECRET_FILE")
	found := false
	for _, v := range spec.Volumes {
		if v.Secret == nil {
			continue
		}
		for _, vm := range c.VolumeMounts {
			if vm.Name != v.Name {
				continue
			}
			for _, it := range v.Secret.Items {
				if filepath.Join(vm.MountPath, it.Path) == secretFile.Value {
					found = true
				}
			}
			if !vm.ReadOnly {
				t.Errorf("the secret volume %s is mounted writable", v.Name)
			}
		}
		if v.Secret.DefaultMode == nil || *v.Secret.DefaultMode&0o007 != 0 {
			t.Errorf("the secret volume %s is readable by others (defaultMode): want 0440 or stricter", v.Name)
		}
	}
	if !found {
		t.Errorf("MESH_SECRET_FILE %q is not a file of a mounted Secret volume", secretFile.Value)
	}

	// The data dir on the volume claim template.
	dataDir, _ := env(c, "MESH_DATA_DIR")
	if len(sts.Spec.VolumeClaimTemplates) != 1 {
		t.Fatalf("%d volumeClaimTemplates, want 1", len(sts.Spec.VolumeClaimTemplates))
	}
	claim := sts.Spec.VolumeClaimTemplates[0]
	if !slices.ContainsFunc(c.VolumeMounts, func(vm corev1.VolumeMount) bool { return vm.Name == claim.Name && vm.MountPath == dataDir.Value }) {
		t.Errorf("MESH_DATA_DIR %q is not where the claim %s is mounted: %v", dataDir.Value, claim.Name, c.VolumeMounts)
	}
	if _, ok := claim.Spec.Resources.Requests[corev1.ResourceStorage]; !ok {
		t.Errorf("the claim %s requests no storage", claim.Name)
	}

	// Resources, and a non-root user that can write its volume.
	for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		req, okr := c.Resources.Requests[r]
		lim, okl := c.Resources.Limits[r]
		if !okr || !okl || req.Cmp(lim) > 0 {
			t.Errorf("resources %s: request %v, limit %v: want both, request <= limit", r, req.String(), lim.String())
		}
	}
	if sc := spec.SecurityContext; sc == nil || sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot || sc.FSGroup == nil {
		t.Error("the pod should run as non-root with an fsGroup (so the volume is writable)")
	}
	// The pod and the image agree: its user, ports and data dir.
	if sc := spec.SecurityContext; sc != nil && (sc.RunAsUser == nil || *sc.RunAsUser != image.UID || sc.FSGroup == nil || *sc.FSGroup != image.UID) {
		t.Errorf("runAsUser/fsGroup should be the image's user %d", image.UID)
	}
	if fmt.Sprintf("%d/tcp", meshPort) != image.MeshPort || fmt.Sprintf("%d/tcp", dashPort) != image.DashboardPort {
		t.Errorf("container ports %d and %d, the image exposes %s and %s", meshPort, dashPort, image.MeshPort, image.DashboardPort)
	}
	if dataDir.Value != image.DataDir {
		t.Errorf("MESH_DATA_DIR %q, the image's volume is %s", dataDir.Value, image.DataDir)
	}
	if g := spec.TerminationGracePeriodSeconds; g == nil || *g < 35 {
		t.Error("terminationGracePeriodSeconds: want at least 35 s for the drain (--drain-timeout, 30 s) and the graceful leave")
	}

	for _, p := range m.pdbs {
		if s, err := metav1.LabelSelectorAsSelector(p.Spec.Selector); err != nil || !s.Matches(podLabels) {
			t.Errorf("PodDisruptionBudget %s does not select the mesh pods", p.Name)
		}
	}
	for _, h := range m.hpas {
		ref := h.Spec.ScaleTargetRef
		if ref.Kind != "StatefulSet" || ref.Name != sts.Name || ref.APIVersion != "apps/v1" {
			t.Errorf("HPA %s scales %+v, want the StatefulSet %s", h.Name, ref, sts.Name)
		}
		if h.Spec.MinReplicas == nil || *h.Spec.MinReplicas < 3 {
			t.Errorf("HPA %s: minReplicas below 3 would scale the Raft voters below a fault-tolerant majority", h.Name)
		}
	}

	checkAgainstBinary(t, c)
}

// checkAgainstBinary checks that every MESH_* variable and flag given to
// the container is one the real `mesh join` has (a misspelt variable would
// be silently ignored), and that the peer address parses.
func checkAgainstBinary(t *testing.T, c corev1.Container) {
	t.Helper()
	bin, err := meshbin.Build(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	help, err := exec.CommandContext(ctx, bin, "join", "--help").CombinedOutput()
	if err != nil {
		t.Fatalf("mesh join --help: %v\n%s", err, help)
	}
	flags := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^\s+(?:-\w, )?--([a-z][a-z-]*)`).FindAllSubmatch(help, -1) {
		flags[string(m[1])] = true
	}
	if !flags["secret-file"] || !flags["data-dir"] {
		t.Fatalf("could not read the flags from mesh join --help:\n%s", help)
	}
	for _, e := range c.Env {
		if name, ok := strings.CutPrefix(e.Name, "MESH_"); ok {
			flag := strings.ToLower(strings.ReplaceAll(name, "_", "-"))
			if !flags[flag] {
				t.Errorf("env %s: mesh join has no --%s", e.Name, flag)
			}
		}
	}
	for _, a := range c.Args {
		if f, ok := strings.CutPrefix(a, "--"); ok && !flags[strings.SplitN(f, "=", 2)[0]] {
			t.Errorf("arg %s: mesh join has no such flag", a)
		}
	}
	// The peer address is accepted: a join with it gets past parsing and
	// fails only for want of the name (a usage error would exit 2 at once).
	dir := t.TempDir()
	secret := filepath.Join(dir, "secret")
	if err := os.WriteFile(secret, []byte("/key/swarm/psk/1.0.0/\n/base16/\n"+strings.Repeat("ab", 32)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(ctx, bin, append(slices.Clone(c.Args), "--secret-file", secret, "--data-dir", filepath.Join(dir, "data"),
		"--listen", "/ip4/127.0.0.1/tcp/0", "--dashboard", "", "--join-timeout", "1s")...)
	cmd.Env = []string{}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err = cmd.Run()
	if code := cmd.ProcessState.ExitCode(); code != 1 || !strings.Contains(out.String(), "resolve") {
		t.Errorf("mesh %s outside the cluster: exit %d (%v), want 1 with an error that the name does not resolve:\n%s", strings.Join(c.Args, " "), code, err, out.String())
	}
}
