package main

// The Kubernetes manifests (deploy/kubernetes) and the Helm chart
// (deploy/helm/tributary) checked offline. kubeconform would fetch its
// JSON schemas from GitHub, which this machine cannot reach, so each
// manifest is decoded strictly into the Kubernetes API's own Go types
// (k8s.io/api, through sigs.k8s.io/yaml with unknown and duplicate
// fields refused: a misspelt or misplaced field, a wrong type or a bad
// quantity fails), then checked for what the schemas require (names,
// images, ports) and what this deployment needs (selectors that match,
// probes on the right endpoints, a non-root read-only container, a
// grace period long enough for serve's shutdown). The environment each
// pod gets, expanded as the kubelet expands it, must be accepted by serve
// for every ordinal. The chart is rendered with helm when it is on PATH
// (.ci/run installs it) and must give the same objects as the plain
// manifests; without helm those checks skip and say so.

import (
	"bytes"
	"errors"
	"fmt"
	"os/exec"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	kjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"

	"github.com/tributary-io/tributary/server"
)

const (
	k8sManifestPath = "deploy/kubernetes/tributary.yaml"
	helmChartPath   = "deploy/helm/tributary"
	// k8sReplicas is the brokers (and etcd voters) the manifests run.
	k8sReplicas = 3
	// distrolessNonroot is the uid and gid of distroless's nonroot user,
	// which the Dockerfile's image runs as (USER nonroot:nonroot).
	distrolessNonroot = 65532
	// shutdownExtra is, besides Config.ShutdownTimeout, what serve may take on SIGTERM in a cluster: the
	// controlled shutdown (server's controlledShutdownTimeout, 10 s),
	// the connections' drain (Config.ShutdownTimeout), the controller
	// campaign's close (closeCampaignGrace, 3 s), then etcd and the data
	// dir close and flush.
	shutdownExtra = 10*time.Second + 3*time.Second + 15*time.Second
)

// k8sObjects are the objects of one set of manifests, by kind.
type k8sObjects struct {
	statefulSets []*appsv1.StatefulSet
	services     []*corev1.Service
	pdbs         []*policyv1.PodDisruptionBudget
}

// decodeK8s decodes multi-document YAML strictly into the API's types.
func decodeK8s(raw []byte) (*k8sObjects, error) {
	objs := &k8sObjects{}
	for i, doc := range regexp.MustCompile(`(?m)^---\s*$`).Split(string(raw), -1) {
		var head struct {
			APIVersion string `json:"apiVersion"`
			Kind       string `json:"kind"`
		}
		if err := yaml.Unmarshal([]byte(doc), &head); err != nil {
			return nil, fmt.Errorf("document %d: %w", i+1, err)
		}
		if head.APIVersion == "" && head.Kind == "" {
			continue // comments only
		}
		var obj any
		switch head.APIVersion + " " + head.Kind {
		case "apps/v1 StatefulSet":
			o := &appsv1.StatefulSet{}
			objs.statefulSets, obj = append(objs.statefulSets, o), o
		case "v1 Service":
			o := &corev1.Service{}
			objs.services, obj = append(objs.services, o), o
		case "policy/v1 PodDisruptionBudget":
			o := &policyv1.PodDisruptionBudget{}
			objs.pdbs, obj = append(objs.pdbs, o), o
		default:
			return nil, fmt.Errorf("document %d: %s %s is not a kind these manifests use", i+1, head.APIVersion, head.Kind)
		}
		// As the API server decodes: field names match case-sensitively,
		// and unknown or duplicate fields are errors.
		js, err := yaml.YAMLToJSONStrict([]byte(doc))
		if err != nil {
			return nil, fmt.Errorf("document %d (%s): %w", i+1, head.Kind, err)
		}
		strict, err := kjson.UnmarshalStrict(js, obj, kjson.DisallowDuplicateFields, kjson.DisallowUnknownFields)
		if err == nil {
			err = errors.Join(strict...)
		}
		if err != nil {
			return nil, fmt.Errorf("document %d (%s): %w", i+1, head.Kind, err)
		}
	}
	// Helm orders objects of one kind as it likes.
	slices.SortFunc(objs.services, func(a, b *corev1.Service) int { return strings.Compare(a.Name, b.Name) })
	return objs, nil
}

// checkK8s returns what is wrong with the objects: what the API's
// schemas require that strict decoding does not see, and what this
// deployment needs.
func checkK8s(o *k8sObjects) []string {
	var problems []string
	bad := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	name := func(kind, n string) {
		for _, msg := range validation.IsDNS1123Subdomain(n) {
			bad("%s %q: name: %s", kind, n, msg)
		}
	}
	if len(o.statefulSets) != 1 || len(o.pdbs) != 1 || len(o.services) != 2 {
		bad("want one StatefulSet, one PodDisruptionBudget and two Services, have %d, %d and %d", len(o.statefulSets), len(o.pdbs), len(o.services))
		return problems
	}
	sts, pdb := o.statefulSets[0], o.pdbs[0]
	name("StatefulSet", sts.Name)
	name("PodDisruptionBudget", pdb.Name)
	pod := sts.Spec.Template
	podLabels := pod.Labels
	selects := func(sel map[string]string) bool {
		if len(sel) == 0 {
			return false
		}
		for k, v := range sel {
			if podLabels[k] != v {
				return false
			}
		}
		return true
	}

	// The StatefulSet.
	if sts.Spec.Replicas == nil || *sts.Spec.Replicas != k8sReplicas {
		bad("StatefulSet: replicas %v, want %d", sts.Spec.Replicas, k8sReplicas)
	}
	if sts.Spec.Selector == nil || len(sts.Spec.Selector.MatchExpressions) > 0 || !selects(sts.Spec.Selector.MatchLabels) {
		bad("StatefulSet: selector %v does not select its pod template's labels %v", sts.Spec.Selector, podLabels)
	}
	if sts.Spec.PodManagementPolicy != appsv1.ParallelPodManagement {
		bad("StatefulSet: podManagementPolicy %q: the voters must start together (Parallel), or the first never sees a quorum and never gets ready", sts.Spec.PodManagementPolicy)
	}
	grace := pod.Spec.TerminationGracePeriodSeconds
	if need := server.DefaultConfig().ShutdownTimeout + shutdownExtra; grace == nil || time.Duration(*grace)*time.Second < need {
		bad("StatefulSet: terminationGracePeriodSeconds %v is below serve's shutdown on SIGTERM (%v)", grace, need)
	}
	psc := pod.Spec.SecurityContext
	if psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot || psc.RunAsUser == nil || *psc.RunAsUser != distrolessNonroot ||
		psc.FSGroup == nil || *psc.FSGroup != distrolessNonroot {
		bad("StatefulSet: the pod's securityContext must run as non-root uid %d with fsGroup %d (the image's nonroot user, owning the volume)", distrolessNonroot, distrolessNonroot)
	}
	if len(pod.Spec.Containers) != 1 {
		bad("StatefulSet: %d containers, want 1", len(pod.Spec.Containers))
		return problems
	}
	c := pod.Spec.Containers[0]
	if c.Name == "" || c.Image == "" {
		bad("StatefulSet: container name %q and image %q are required", c.Name, c.Image)
	}
	if len(c.Command) > 0 || !slices.Equal(c.Args, []string{"serve"}) {
		bad("StatefulSet: container command %q args %q: the image's entrypoint is the binary; its args are [serve]", c.Command, c.Args)
	}
	ports := map[string]int32{}
	for _, p := range c.Ports {
		for _, msg := range validation.IsValidPortName(p.Name) {
			bad("container port %q: %s", p.Name, msg)
		}
		if _, dup := ports[p.Name]; dup {
			bad("container port %q named twice", p.Name)
		}
		ports[p.Name] = p.ContainerPort
	}
	for _, want := range []struct {
		name string
		port string
	}{{"kafka", defaultListen}, {"metrics", defaultMetricsListen}} {
		if p, _ := strconv.Atoi(portOf(want.port)); ports[want.name] != int32(p) {
			bad("container port %s is %d, want serve's %d", want.name, ports[want.name], p)
		}
	}
	if ports["etcd-client"] != ports["controller"]+server.ControllerClientPortOffset {
		bad("container port etcd-client %d: every broker dials a voter's etcd at its controller port %d + %d", ports["etcd-client"], ports["controller"], server.ControllerClientPortOffset)
	}
	probe := func(what string, p *corev1.Probe, path string) {
		switch {
		case p == nil || p.HTTPGet == nil:
			bad("%s: want an HTTP GET of %s", what, path)
		case p.HTTPGet.Path != path || p.HTTPGet.Port.String() != "metrics":
			bad("%s: GET %s on port %s, want %s on port metrics", what, p.HTTPGet.Path, p.HTTPGet.Port.String(), path)
		}
	}
	probe("readinessProbe", c.ReadinessProbe, "/readyz")
	probe("livenessProbe", c.LivenessProbe, "/healthz")
	csc := c.SecurityContext
	if csc == nil || csc.ReadOnlyRootFilesystem == nil || !*csc.ReadOnlyRootFilesystem ||
		csc.AllowPrivilegeEscalation == nil || *csc.AllowPrivilegeEscalation ||
		csc.Capabilities == nil || !slices.Equal(csc.Capabilities.Drop, []corev1.Capability{"ALL"}) {
		bad("container securityContext: want readOnlyRootFilesystem, no privilege escalation, every capability dropped")
	}
	volumes := map[string]bool{}
	for _, v := range pod.Spec.Volumes {
		volumes[v.Name] = true
	}
	for _, pvc := range sts.Spec.VolumeClaimTemplates {
		volumes[pvc.Name] = true
		if _, ok := pvc.Spec.Resources.Requests[corev1.ResourceStorage]; !ok {
			bad("volumeClaimTemplate %s requests no storage", pvc.Name)
		}
	}
	mounts := map[string]string{}
	for _, m := range c.VolumeMounts {
		if !volumes[m.Name] {
			bad("volumeMount %s names no volume", m.Name)
		}
		mounts[m.MountPath] = m.Name
	}
	env := map[string]string{}
	for _, e := range c.Env {
		for _, msg := range validation.IsEnvVarName(e.Name) {
			bad("env %s: %s", e.Name, msg)
		}
		env[e.Name] = e.Value
	}
	if d := env[envDataDir]; d == "" || mounts[d] == "" {
		bad("the data dir %s=%q is not on a volume (mounts %v)", envDataDir, d, mounts)
	} else if !slices.ContainsFunc(sts.Spec.VolumeClaimTemplates, func(p corev1.PersistentVolumeClaim) bool { return p.Name == mounts[d] }) {
		bad("the data dir %s is on volume %s, not a persistent volume claim", d, mounts[d])
	}

	// The Services.
	var headless, client *corev1.Service
	for _, s := range o.services {
		name("Service", s.Name)
		if !selects(s.Spec.Selector) {
			bad("Service %s: selector %v does not select the brokers' labels %v", s.Name, s.Spec.Selector, podLabels)
		}
		for _, p := range s.Spec.Ports {
			if t := p.TargetPort.String(); ports[t] == 0 {
				bad("Service %s: port %s targets %q, not a named container port", s.Name, p.Name, t)
			}
		}
		if s.Spec.ClusterIP == corev1.ClusterIPNone {
			headless = s
		} else {
			client = s
		}
	}
	switch {
	case headless == nil || client == nil:
		bad("want a headless Service (clusterIP: None) and a client Service")
	case sts.Spec.ServiceName != headless.Name:
		bad("StatefulSet serviceName %q is not the headless Service %q", sts.Spec.ServiceName, headless.Name)
	case !headless.Spec.PublishNotReadyAddresses:
		bad("headless Service %s: publishNotReadyAddresses must be true: the voters find each other by name before any is ready", headless.Name)
	}

	// The PodDisruptionBudget.
	if pdb.Spec.MaxUnavailable == nil || pdb.Spec.MaxUnavailable.String() != "1" || pdb.Spec.MinAvailable != nil {
		bad("PodDisruptionBudget: maxUnavailable %v, want 1 (and no minAvailable)", pdb.Spec.MaxUnavailable)
	}
	if pdb.Spec.Selector == nil || !selects(pdb.Spec.Selector.MatchLabels) {
		bad("PodDisruptionBudget: selector %v does not select the brokers", pdb.Spec.Selector)
	}
	return problems
}

func portOf(addr string) string {
	_, p, _ := strings.Cut(addr, ":")
	return p
}

// podEnv is the environment the kubelet gives ordinal i's container:
// fieldRefs resolved, $(VAR) references to earlier variables expanded.
func podEnv(t *testing.T, sts *appsv1.StatefulSet, i int) map[string]string {
	t.Helper()
	pod := fmt.Sprintf("%s-%d", sts.Name, i)
	fields := map[string]string{
		"metadata.name":      pod,
		"metadata.namespace": "kafka",
		"metadata.labels['apps.kubernetes.io/pod-index']": strconv.Itoa(i),
	}
	ref := regexp.MustCompile(`\$\(([A-Za-z_][A-Za-z0-9_]*)\)`)
	env := map[string]string{}
	for _, e := range sts.Spec.Template.Spec.Containers[0].Env {
		v := e.Value
		if e.ValueFrom != nil {
			if e.ValueFrom.FieldRef == nil {
				t.Fatalf("env %s: only fieldRefs are resolved here", e.Name)
			}
			var ok bool
			if v, ok = fields[e.ValueFrom.FieldRef.FieldPath]; !ok {
				t.Fatalf("env %s: fieldRef %s is not one the kubelet resolves here", e.Name, e.ValueFrom.FieldRef.FieldPath)
			}
		}
		env[e.Name] = ref.ReplaceAllStringFunc(v, func(m string) string {
			if x, ok := env[m[2:len(m)-1]]; ok {
				return x
			}
			return m // left as written, as the kubelet does
		})
	}
	return env
}

// checkPodConfig runs serve's own validation (--print-config) under the
// environment of each ordinal: node.id is the ordinal, the node is a
// voter of all of them, and the addresses are the pods' stable names.
func checkPodConfig(t *testing.T, sts *appsv1.StatefulSet, replicas int) {
	t.Helper()
	headless := sts.Spec.ServiceName
	host := func(i int) string {
		return fmt.Sprintf("%s-%d.%s.kafka.svc.cluster.local", sts.Name, i, headless)
	}
	var voters []string
	for i := range replicas {
		voters = append(voters, fmt.Sprintf("%d@%s:9093", i, host(i)))
	}
	for i := range replicas {
		t.Run(fmt.Sprint("ordinal ", i), func(t *testing.T) {
			for k, v := range podEnv(t, sts, i) {
				if strings.Contains(v, "$(") {
					t.Errorf("env %s=%q: a reference the kubelet cannot expand", k, v)
				}
				t.Setenv(k, v)
			}
			m, out := printConfig(t)
			for _, want := range []string{
				fmt.Sprintf("# serve: --data-dir=/var/lib/tributary --listen=0.0.0.0:9092 --advertise=%s:9092 --metrics-listen=0.0.0.0:9644\n", host(i)),
				// Bound on every interface, dialed at the pod's DNS name.
				fmt.Sprintf("# cluster: node %d, a voter of %d: etcd peers on 0.0.0.0:9093, etcd clients on 0.0.0.0:9094; dialed at its voter entry %s:9093\n", i, replicas, host(i)),
			} {
				if !strings.Contains(out, want) {
					t.Errorf("serve under ordinal %d's environment lacks %q:\n%s", i, want, out)
				}
			}
			if m["node.id"] != strconv.Itoa(i) || m["controller.quorum.voters"] != strings.Join(voters, ",") {
				t.Errorf("node.id=%s controller.quorum.voters=%s", m["node.id"], m["controller.quorum.voters"])
			}
			if m["min.insync.replicas"] != "2" || m["default.replication.factor"] != "3" || m["offsets.topic.replication.factor"] != "3" {
				t.Errorf("replication: min.insync.replicas=%s default.replication.factor=%s offsets.topic.replication.factor=%s",
					m["min.insync.replicas"], m["default.replication.factor"], m["offsets.topic.replication.factor"])
			}
		})
	}
}

// TestKubernetesManifestsValidate: deploy/kubernetes/tributary.yaml
// decodes strictly into the API's types, passes the checks, and each
// pod's environment starts serve as the voter of its ordinal.
func TestKubernetesManifestsValidate(t *testing.T) {
	objs, err := decodeK8s([]byte(readRepoFile(t, k8sManifestPath)))
	if err != nil {
		t.Fatalf("%s: %v", k8sManifestPath, err)
	}
	for _, p := range checkK8s(objs) {
		t.Errorf("%s: %s", k8sManifestPath, p)
	}
	if len(objs.statefulSets) != 1 {
		return
	}
	sts := objs.statefulSets[0]
	checkPodConfig(t, sts, k8sReplicas)
	// And the built binary, with nothing but the pod's environment (as
	// in the container: no config file, no flags but the image's serve).
	bin := buildBinary(t)
	for i := range k8sReplicas {
		cmd := exec.Command(bin, append(sts.Spec.Template.Spec.Containers[0].Args, "--print-config")...)
		cmd.Env = nil
		for k, v := range podEnv(t, sts, i) {
			cmd.Env = append(cmd.Env, k+"="+v)
		}
		out, err := cmd.CombinedOutput()
		if want := fmt.Sprintf("# cluster: node %d, a voter of %d", i, k8sReplicas); err != nil || !strings.Contains(string(out), want) {
			t.Errorf("tributary serve --print-config in pod %s-%d: %v, want %q:\n%s", sts.Name, i, err, want, out)
		}
	}
}

// TestKubernetesValidationRejects: the checks fail on real mistakes, or
// TestKubernetesManifestsValidate would prove nothing.
func TestKubernetesValidationRejects(t *testing.T) {
	good := readRepoFile(t, k8sManifestPath)
	for _, tc := range []struct {
		name, old, new, want string
	}{
		{"misspelt field", "readinessProbe:", "readinesProbe:", `unknown field "spec.template.spec.containers[0].readinesProbe"`},
		{"field in the wrong place", "  serviceName:", "  servicename:", `unknown field "spec.servicename"`},
		{"wrong type", "replicas: 3", "replicas: three", "cannot unmarshal"},
		{"bad quantity", "storage: 10Gi", "storage: 10Gx", "quantities must match"},
		{"duplicate field", "  podManagementPolicy: Parallel\n", "  podManagementPolicy: Parallel\n  podManagementPolicy: OrderedReady\n", "already set in map"},
		{"ordered start", "podManagementPolicy: Parallel", "podManagementPolicy: OrderedReady", "podManagementPolicy"},
		{"probe on the wrong endpoint", "path: /readyz", "path: /healthz", "readinessProbe: GET /healthz"},
		{"root filesystem writable", "readOnlyRootFilesystem: true", "readOnlyRootFilesystem: false", "readOnlyRootFilesystem"},
		{"headless Service hides unready pods", "publishNotReadyAddresses: true", "publishNotReadyAddresses: false", "publishNotReadyAddresses"},
		{"short grace period", "terminationGracePeriodSeconds: 90", "terminationGracePeriodSeconds: 30", "terminationGracePeriodSeconds"},
		{"bad port name", "- name: etcd-client\n              containerPort", "- name: etcd_client\n              containerPort", `container port "etcd_client"`},
		{"PDB allows two down", "maxUnavailable: 1", "maxUnavailable: 2", "maxUnavailable"},
		{"unknown kind", "kind: PodDisruptionBudget", "kind: PodDisruptionBudgit", "not a kind"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if strings.Count(good, tc.old) < 1 {
				t.Fatalf("%s no longer holds %q", k8sManifestPath, tc.old)
			}
			bad := strings.Replace(good, tc.old, tc.new, 1)
			objs, err := decodeK8s([]byte(bad))
			var got string
			if err != nil {
				got = err.Error()
			} else {
				got = strings.Join(checkK8s(objs), "\n")
			}
			if !strings.Contains(got, tc.want) {
				t.Errorf("with %q for %q: problems %q, want one containing %q", tc.new, tc.old, got, tc.want)
			}
		})
	}
	// A pod environment variable serve does not know fails its start.
	objs, err := decodeK8s([]byte(strings.Replace(good, "name: TRIBUTARY_LISTEN\n", "name: TRIBUTARY_LISTEM\n", 1)))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range podEnv(t, objs.statefulSets[0], 0) {
		t.Setenv(k, v)
	}
	if r := runCLI(t, "", "serve", "--print-config"); r.code == 0 || !strings.Contains(r.stderr, "unknown environment variable TRIBUTARY_LISTEM") {
		t.Errorf("a misspelt TRIBUTARY_ variable: exit %d: %s", r.code, r.stderr)
	}
}

// helmTemplate renders the chart with helm, or skips the test without it.
func helmTemplate(t *testing.T, args ...string) ([]byte, error) {
	t.Helper()
	helm, err := exec.LookPath("helm")
	if err != nil {
		t.Skip("helm is not installed (go install helm.sh/helm/v4/cmd/helm@v4.3.2, as .ci/run does): the chart is not rendered")
	}
	cmd := exec.Command(helm, append([]string{"template", "tributary", "../../" + helmChartPath}, args...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("helm template: %v: %s", err, stderr.String())
	}
	return out, nil
}

// helmOnlyLabels are the labels the chart adds that the plain manifests,
// applied with kubectl, do not carry.
var helmOnlyLabels = []string{"helm.sh/chart", "app.kubernetes.io/managed-by", "app.kubernetes.io/version"}

func dropHelmLabels(objs *k8sObjects) {
	drop := func(m map[string]string) {
		for _, l := range helmOnlyLabels {
			delete(m, l)
		}
	}
	for _, s := range objs.statefulSets {
		drop(s.Labels)
		drop(s.Spec.Template.Labels)
	}
	for _, s := range objs.services {
		drop(s.Labels)
	}
	for _, p := range objs.pdbs {
		drop(p.Labels)
	}
}

// TestHelmChartRendersTheManifests: helm lint passes, the chart with its
// default values renders objects that pass the same checks and equal
// deploy/kubernetes/tributary.yaml's (but for Helm's own labels), five
// replicas make five voters serve accepts, and an even count is refused.
func TestHelmChartRendersTheManifests(t *testing.T) {
	rendered, err := helmTemplate(t)
	if err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("helm", "lint", "--strict", "../../"+helmChartPath).CombinedOutput(); err != nil {
		t.Errorf("helm lint --strict: %v\n%s", err, out)
	}
	chart, err := decodeK8s(rendered)
	if err != nil {
		t.Fatalf("rendered chart: %v\n%s", err, rendered)
	}
	for _, p := range checkK8s(chart) {
		t.Errorf("rendered chart: %s", p)
	}
	plain, err := decodeK8s([]byte(readRepoFile(t, k8sManifestPath)))
	if err != nil {
		t.Fatal(err)
	}
	dropHelmLabels(chart)
	if !reflect.DeepEqual(chart, plain) {
		a, _ := yaml.Marshal(chart.statefulSets)
		b, _ := yaml.Marshal(plain.statefulSets)
		t.Errorf("the chart's default rendering differs from %s (change both together)\nchart StatefulSet:\n%s\nplain StatefulSet:\n%s", k8sManifestPath, a, b)
	}

	five, err := helmTemplate(t, "--set", "replicas=5")
	if err != nil {
		t.Fatal(err)
	}
	objs, err := decodeK8s(five)
	if err != nil {
		t.Fatal(err)
	}
	checkPodConfig(t, objs.statefulSets[0], 5)

	if _, err := helmTemplate(t, "--set", "replicas=2"); err == nil || !strings.Contains(err.Error(), "replicas must be odd") {
		t.Errorf("replicas=2 rendered: %v", err)
	}
}

// TestHelmChartOptionalValues: the chart's optional values (an image of a
// registry with a pull secret, a StorageClass, required anti-affinity,
// node selector, tolerations, pod annotations, more broker settings)
// render objects that decode strictly, pass the checks and carry them;
// serve accepts the settings they add.
func TestHelmChartOptionalValues(t *testing.T) {
	rendered, err := helmTemplate(t, "-f", "testdata/helm-values-all.yaml")
	if err != nil {
		t.Fatal(err)
	}
	objs, err := decodeK8s(rendered)
	if err != nil {
		t.Fatalf("rendered chart: %v\n%s", err, rendered)
	}
	for _, p := range checkK8s(objs) {
		t.Errorf("rendered chart: %s", p)
	}
	sts := objs.statefulSets[0]
	pod := sts.Spec.Template.Spec
	pvc := sts.Spec.VolumeClaimTemplates[0].Spec
	storage := pvc.Resources.Requests[corev1.ResourceStorage]
	for what, ok := range map[string]bool{
		"image":              pod.Containers[0].Image == "registry.example.com/tributary:v1.2.3",
		"imagePullSecrets":   len(pod.ImagePullSecrets) == 1 && pod.ImagePullSecrets[0].Name == "regcred",
		"storageClassName":   pvc.StorageClassName != nil && *pvc.StorageClassName == "fast-ssd",
		"storage":            storage.String() == "100Gi",
		"required affinity":  pod.Affinity != nil && pod.Affinity.PodAntiAffinity != nil && len(pod.Affinity.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution) == 1,
		"nodeSelector":       pod.NodeSelector["disktype"] == "ssd",
		"tolerations":        len(pod.Tolerations) == 1 && pod.Tolerations[0].Key == "dedicated",
		"pod annotations":    sts.Spec.Template.Annotations["prometheus.io/scrape"] == "true",
		"selector unchanged": reflect.DeepEqual(sts.Spec.Selector.MatchLabels, map[string]string{"app.kubernetes.io/name": "tributary", "app.kubernetes.io/instance": "tributary"}),
	} {
		if !ok {
			t.Errorf("%s not rendered as the values say", what)
		}
	}
	for k, v := range podEnv(t, sts, 1) {
		t.Setenv(k, v)
	}
	m, _ := printConfig(t)
	if m["log.retention.ms"] != "3600000" || m["broker.rack"] != "rack-a" || m["min.insync.replicas"] != "2" {
		t.Errorf("serve in the pod: log.retention.ms=%s broker.rack=%s min.insync.replicas=%s", m["log.retention.ms"], m["broker.rack"], m["min.insync.replicas"])
	}
}
