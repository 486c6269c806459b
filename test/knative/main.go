// knative-check: Knative's own code, called on restore-guard's manifests. Built by
// test/rig/build.sh (family `knative`) from the Go module proxy into .rig/bin/knative-check;
// test/knative/*.test.ts run it.
//
//	knative-check validate [--config DIR] [--feature NAME=VALUE]... FILE|DIR...
//	    Decodes every Knative object in the YAML files (strictly: unknown fields are errors, as
//	    Knative's webhooks decode them) and runs the types' own SetDefaults and Validate, as the
//	    defaulting and validating webhooks do on create. --config names a folder of Eventing's
//	    ConfigMaps (config-br-defaults, config-features) as a cluster's webhook has them loaded
//	    (build.sh copies the release's own, from config/core/configmaps of the module); without it,
//	    the types' built-in defaults (no default broker class). --feature sets one of
//	    config-features' flags (e.g. authentication-oidc=enabled, which an EventPolicy needs) on top,
//	    as a deployment that requires it has it. Prints one line per object
//	    ("ok|error|skip <file> <apiVersion> <kind> <name>[: error]") and exits 1 when any object
//	    has an error. Objects of other groups (Namespace, RBAC) are skipped: no Knative webhook
//	    sees them.
//
//	knative-check route FILE|DIR... < events.json
//	    Reads the Triggers in the files and a JSON array of CloudEvents (structured mode) on stdin,
//	    and prints a JSON array [{"id","type","triggers":[names]}]: the Triggers whose filter
//	    Knative's broker filter would let each event through, using Eventing's own filter
//	    implementations (subscriptionsapi for `filters`, attributes for `filter`).
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"go.uber.org/zap"
	corev1 "k8s.io/api/core/v1"
	k8syaml "k8s.io/apimachinery/pkg/util/yaml"
	"knative.dev/pkg/apis"

	"knative.dev/eventing/pkg/apis/config"
	eventingv1 "knative.dev/eventing/pkg/apis/eventing/v1"
	eventingv1alpha1 "knative.dev/eventing/pkg/apis/eventing/v1alpha1"
	"knative.dev/eventing/pkg/apis/feature"
	sourcesv1 "knative.dev/eventing/pkg/apis/sources/v1"
	"knative.dev/eventing/pkg/eventfilter"
	"knative.dev/eventing/pkg/eventfilter/attributes"
	"knative.dev/eventing/pkg/eventfilter/subscriptionsapi"
	servingv1 "knative.dev/serving/pkg/apis/serving/v1"
)

// knativeObject is what the webhooks need of a type: defaults and validation.
type knativeObject interface {
	apis.Defaultable
	apis.Validatable
}

// newObject returns an empty object of a Knative type the webhooks validate, or nil.
func newObject(apiVersion, kind string) knativeObject {
	switch apiVersion + "/" + kind {
	case "eventing.knative.dev/v1/Trigger":
		return &eventingv1.Trigger{}
	case "eventing.knative.dev/v1/Broker":
		return &eventingv1.Broker{}
	case "eventing.knative.dev/v1alpha1/EventPolicy":
		return &eventingv1alpha1.EventPolicy{}
	case "sources.knative.dev/v1/ApiServerSource":
		return &sourcesv1.ApiServerSource{}
	case "sources.knative.dev/v1/PingSource":
		return &sourcesv1.PingSource{}
	case "sources.knative.dev/v1/SinkBinding":
		return &sourcesv1.SinkBinding{}
	case "sources.knative.dev/v1/ContainerSource":
		return &sourcesv1.ContainerSource{}
	case "serving.knative.dev/v1/Service":
		return &servingv1.Service{}
	}
	return nil
}

type doc struct {
	file string
	raw  []byte
	meta struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
		Metadata   struct {
			Name string `json:"name"`
		} `json:"metadata"`
	}
}

// readDocs reads every YAML document of the files (a directory: its *.yaml and *.yml files,
// kustomization.yaml aside) as JSON.
func readDocs(args []string) ([]doc, error) {
	var files []string
	for _, a := range args {
		st, err := os.Stat(a)
		if err != nil {
			return nil, err
		}
		if !st.IsDir() {
			files = append(files, a)
			continue
		}
		entries, err := os.ReadDir(a)
		if err != nil {
			return nil, err
		}
		for _, e := range entries {
			n := e.Name()
			if e.IsDir() || n == "kustomization.yaml" || !(strings.HasSuffix(n, ".yaml") || strings.HasSuffix(n, ".yml")) {
				continue
			}
			files = append(files, filepath.Join(a, n))
		}
	}
	sort.Strings(files)
	var out []doc
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		dec := k8syaml.NewYAMLOrJSONDecoder(bytes.NewReader(b), 4096)
		for {
			var raw json.RawMessage
			if err := dec.Decode(&raw); err != nil {
				if errors.Is(err, io.EOF) {
					break
				}
				return nil, fmt.Errorf("%s: %w", f, err)
			}
			if len(bytes.TrimSpace(raw)) == 0 || string(raw) == "null" {
				continue
			}
			d := doc{file: f, raw: raw}
			if err := json.Unmarshal(raw, &d.meta); err != nil {
				return nil, fmt.Errorf("%s: %w", f, err)
			}
			out = append(out, d)
		}
	}
	return out, nil
}

// decodeStrict decodes like Knative's webhooks do: unknown fields are errors.
func decodeStrict(raw []byte, into any) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	return dec.Decode(into)
}

// webhookContext is a create request's context with the feature flags and defaults the webhook
// would have loaded: from the ConfigMaps in dir, else the built-in ones.
func webhookContext(dir string, features map[string]string) (context.Context, error) {
	flags, err := feature.NewFlagsConfigFromMap(map[string]string{})
	if err != nil {
		return nil, err
	}
	ctx := context.Background()
	if dir != "" {
		docs, err := readDocs([]string{dir})
		if err != nil {
			return nil, err
		}
		for _, d := range docs {
			if d.meta.Kind != "ConfigMap" {
				continue
			}
			cm := &corev1.ConfigMap{}
			if err := json.Unmarshal(d.raw, cm); err != nil {
				return nil, fmt.Errorf("%s: %w", d.file, err)
			}
			switch cm.Name {
			case "config-features":
				if flags, err = feature.NewFlagsConfigFromConfigMap(cm); err != nil {
					return nil, fmt.Errorf("%s: %w", d.file, err)
				}
			case "config-br-defaults":
				defaults, err := config.NewDefaultsConfigFromConfigMap(cm)
				if err != nil {
					return nil, fmt.Errorf("%s: %w", d.file, err)
				}
				ctx = config.ToContext(ctx, &config.Config{Defaults: defaults})
			}
		}
	}
	for name, value := range features {
		set, err := feature.NewFlagsConfigFromMap(map[string]string{name: value})
		if err != nil {
			return nil, fmt.Errorf("--feature %s=%s: %w", name, value, err)
		}
		flags[name] = set[name]
	}
	return apis.WithinCreate(feature.ToContext(ctx, flags)), nil
}

func validate(args []string) int {
	configDir := ""
	features := map[string]string{}
	for len(args) >= 2 && (args[0] == "--config" || args[0] == "--feature") {
		if args[0] == "--config" {
			configDir = args[1]
		} else {
			name, value, ok := strings.Cut(args[1], "=")
			if !ok {
				fmt.Fprintln(os.Stderr, "knative-check validate: --feature takes NAME=VALUE")
				return 2
			}
			features[name] = value
		}
		args = args[2:]
	}
	if len(args) == 0 {
		fmt.Fprintln(os.Stderr, "knative-check validate: name files or folders")
		return 2
	}
	docs, err := readDocs(args)
	if err != nil {
		fmt.Fprintln(os.Stderr, "knative-check:", err)
		return 2
	}
	failed := 0
	for _, d := range docs {
		id := fmt.Sprintf("%s %s %s %s", d.file, d.meta.APIVersion, d.meta.Kind, d.meta.Metadata.Name)
		obj := newObject(d.meta.APIVersion, d.meta.Kind)
		if obj == nil {
			if strings.Contains(d.meta.APIVersion, "knative.dev/") {
				fmt.Printf("error %s: a Knative type this check does not know; add it to newObject\n", id)
				failed++
			} else {
				fmt.Printf("skip %s\n", id)
			}
			continue
		}
		if err := decodeStrict(d.raw, obj); err != nil {
			fmt.Printf("error %s: decoding: %v\n", id, err)
			failed++
			continue
		}
		ctx, err := webhookContext(configDir, features)
		if err != nil {
			fmt.Fprintln(os.Stderr, "knative-check: reading --config:", err)
			return 2
		}
		obj.SetDefaults(ctx)
		if fe := obj.Validate(ctx); fe != nil {
			fmt.Printf("error %s: %s\n", id, strings.ReplaceAll(fe.Error(), "\n", "; "))
			failed++
			continue
		}
		fmt.Printf("ok %s\n", id)
	}
	if failed > 0 {
		fmt.Fprintf(os.Stderr, "knative-check: %d of %d objects fail Knative's validation\n", failed, len(docs))
		return 1
	}
	return 0
}

// filterFor is the broker filter's choice of filter for a Trigger: `filters` when set, else
// `filter.attributes`, else none (Knative's broker: filters take precedence over filter).
func filterFor(t *eventingv1.Trigger, logger *zap.Logger) eventfilter.Filter {
	switch {
	case len(t.Spec.Filters) > 0:
		return subscriptionsapi.CreateSubscriptionsAPIFilters(logger, t.Spec.Filters)
	case t.Spec.Filter != nil:
		return attributes.NewAttributesFilter(t.Spec.Filter.Attributes)
	}
	return nil
}

type routed struct {
	ID       string   `json:"id"`
	Type     string   `json:"type"`
	Triggers []string `json:"triggers"`
}

func route(args []string) int {
	docs, err := readDocs(args)
	if err != nil {
		fmt.Fprintln(os.Stderr, "knative-check:", err)
		return 2
	}
	logger := zap.NewNop()
	type named struct {
		name   string
		filter eventfilter.Filter
	}
	var triggers []named
	for _, d := range docs {
		if d.meta.Kind != "Trigger" || d.meta.APIVersion != "eventing.knative.dev/v1" {
			continue
		}
		t := &eventingv1.Trigger{}
		if err := decodeStrict(d.raw, t); err != nil {
			fmt.Fprintf(os.Stderr, "knative-check: %s: Trigger %s: %v\n", d.file, d.meta.Metadata.Name, err)
			return 2
		}
		triggers = append(triggers, named{t.Name, filterFor(t, logger)})
	}
	var events []cloudevents.Event
	if err := json.NewDecoder(os.Stdin).Decode(&events); err != nil {
		fmt.Fprintln(os.Stderr, "knative-check: reading events (a JSON array of structured CloudEvents) from stdin:", err)
		return 2
	}
	ctx := context.Background()
	out := make([]routed, 0, len(events))
	for _, ev := range events {
		r := routed{ID: ev.ID(), Type: ev.Type(), Triggers: []string{}}
		for _, t := range triggers {
			// The broker drops an event only on FailFilter (NoFilter and PassFilter deliver).
			if t.filter == nil || t.filter.Filter(ctx, ev) != eventfilter.FailFilter {
				r.Triggers = append(r.Triggers, t.name)
			}
		}
		sort.Strings(r.Triggers)
		out = append(out, r)
	}
	enc := json.NewEncoder(os.Stdout)
	if err := enc.Encode(out); err != nil {
		fmt.Fprintln(os.Stderr, "knative-check:", err)
		return 2
	}
	return 0
}

func main() {
	usage := "usage: knative-check validate [--config DIR] FILE|DIR... | knative-check route FILE|DIR... < events.json"
	if len(os.Args) < 3 {
		fmt.Fprintln(os.Stderr, usage)
		os.Exit(2)
	}
	switch os.Args[1] {
	case "validate":
		os.Exit(validate(os.Args[2:]))
	case "route":
		os.Exit(route(os.Args[2:]))
	default:
		fmt.Fprintln(os.Stderr, usage)
		os.Exit(2)
	}
}
