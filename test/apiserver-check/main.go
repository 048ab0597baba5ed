// Test infrastructure only: checks the CRD and manifests with the kube-apiserver's own code, so
// "`kubectl apply` of this manifest is accepted (or refused)" is tested without running a cluster.
//
// The CRD: apiextensions validation (structural schema, CEL rules compiled and their estimated cost
// held to the apiserver's limits), plus each rule's estimated cost (celCost).
// Each manifest: what a create (`kubectl apply` of a new object) goes through, in order:
//   - kubectl: a document of another group or kind is sent to another API (reported in skipped, not
//     checked); a version the CRD does not serve is refused ("no matches for kind"); a namespace that
//     is missing, empty or not a string is replaced by the context's, here "default".
//   - the apiserver's decoding: metadata read strictly (a malformed field is a 400), unknown fields
//     pruned (kubectl's default --validate=strict turns each into an error: reported in pruned),
//     structural defaulting.
//   - the custom resource strategy of a create (PrepareForCreate, then Validate): type and object
//     metadata, the OpenAPI schema, list-type map/set uniqueness, and the x-kubernetes-validations
//     CEL rules (no ratcheting: there is no old object), skipped as the apiserver skips them when a
//     blocking error (required, type, enum, too long, too many) is already found.
//   - status, which a create drops: the status subresource's schema validation, as for the controller's writes.
//
// Usage: apiserver-check CRD.yaml [MANIFEST.yaml ...]; prints one JSON report and exits 0 when everything is accepted.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strings"

	"k8s.io/apiextensions-apiserver/pkg/apis/apiextensions"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/validation"
	structuralschema "k8s.io/apiextensions-apiserver/pkg/apiserver/schema"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/schema/cel"
	structuraldefaulting "k8s.io/apiextensions-apiserver/pkg/apiserver/schema/defaulting"
	schemaobjectmeta "k8s.io/apiextensions-apiserver/pkg/apiserver/schema/objectmeta"
	structuralpruning "k8s.io/apiextensions-apiserver/pkg/apiserver/schema/pruning"
	apiservervalidation "k8s.io/apiextensions-apiserver/pkg/apiserver/validation"
	"k8s.io/apiextensions-apiserver/pkg/registry/customresource"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utiljson "k8s.io/apimachinery/pkg/util/json"
	"k8s.io/apimachinery/pkg/util/validation/field"
	celconfig "k8s.io/apiserver/pkg/apis/cel"
	"k8s.io/apiserver/pkg/cel/environment"
	"sigs.k8s.io/yaml"
)

type celCost struct {
	// Total is the CRD's estimated cost of all rules; the apiserver refuses a CRD above TotalLimit.
	Total      uint64 `json:"total"`
	TotalLimit uint64 `json:"totalLimit"`
	// RuleLimit bounds each rule (its cost times how often it can run).
	RuleLimit uint64            `json:"ruleLimit"`
	Rules     map[string]uint64 `json:"rules"`
}

type report struct {
	CRDErrors []string            `json:"crdErrors"`
	CELCost   celCost             `json:"celCost"`
	Manifests map[string][]string `json:"manifests"`
	Defaulted map[string]any      `json:"defaulted"`
	Pruned    map[string][]string `json:"pruned"`
	Skipped   map[string]string   `json:"skipped"`
}

const defaultNamespace = "default"

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: apiserver-check CRD.yaml [MANIFEST.yaml ...]")
		os.Exit(2)
	}
	rep := report{
		CRDErrors: []string{}, Manifests: map[string][]string{}, Defaulted: map[string]any{}, Pruned: map[string][]string{},
		Skipped: map[string]string{},
		CELCost: celCost{TotalLimit: validation.StaticEstimatedCRDCostLimit, RuleLimit: validation.StaticEstimatedCostLimit, Rules: map[string]uint64{}},
	}
	raw, err := os.ReadFile(os.Args[1])
	must(err)
	var v1crd apiextensionsv1.CustomResourceDefinition
	must(yaml.UnmarshalStrict(raw, &v1crd))
	apiextensionsv1.SetObjectDefaults_CustomResourceDefinition(&v1crd)
	var crd apiextensions.CustomResourceDefinition
	must(apiextensionsv1.Convert_v1_CustomResourceDefinition_To_apiextensions_CustomResourceDefinition(&v1crd, &crd, nil))
	for _, e := range validation.ValidateCustomResourceDefinition(context.Background(), &crd) {
		rep.CRDErrors = append(rep.CRDErrors, e.Error())
	}
	for _, v := range crd.Spec.Versions {
		if s, err := apiextensions.GetSchemaForVersion(&crd, v.Name); err == nil && s != nil && s.OpenAPIV3Schema != nil {
			observeCELCosts(s.OpenAPIV3Schema, &rep)
		}
		if crd.Spec.Validation != nil {
			break // one schema shared by every version
		}
	}
	if len(rep.CRDErrors) > 0 {
		emit(rep)
		return
	}

	versions := map[string]*version{}
	for _, v := range crd.Spec.Versions {
		if !v.Served {
			continue
		}
		ver, err := newVersion(&crd, v.Name)
		if err != nil {
			rep.CRDErrors = append(rep.CRDErrors, err.Error())
			emit(rep)
			return
		}
		versions[v.Name] = ver
	}

	for _, path := range os.Args[2:] {
		data, err := os.ReadFile(path)
		must(err)
		for i, doc := range strings.Split(string(data), "\n---") {
			// As kubectl sends it (YAML read as YAML 1.1, then JSON) and the apiserver decodes it (whole numbers as int64).
			var obj map[string]any
			jsonDoc, err := yaml.YAMLToJSON([]byte(doc))
			if err != nil || utiljson.Unmarshal(jsonDoc, &obj) != nil || obj == nil {
				continue
			}
			checkDocument(fmt.Sprintf("%s#%d", path, i+1), obj, &crd, versions, &rep)
		}
	}
	emit(rep)
}

// version is what the apiserver builds for one served version of the CRD.
type version struct {
	gvk             schema.GroupVersionKind
	structural      *structuralschema.Structural
	statusValidator apiservervalidation.SchemaValidator
	strategy        interface {
		PrepareForCreate(context.Context, runtime.Object)
		Validate(context.Context, runtime.Object) field.ErrorList
	}
}

func newVersion(crd *apiextensions.CustomResourceDefinition, name string) (*version, error) {
	validationSchema, err := apiextensions.GetSchemaForVersion(crd, name)
	if err != nil {
		return nil, err
	}
	subresources, err := apiextensions.GetSubresourcesForVersion(crd, name)
	if err != nil {
		return nil, err
	}
	openAPISchema := validationSchema.OpenAPIV3Schema
	structural, err := structuralschema.NewStructural(openAPISchema)
	if err != nil {
		return nil, fmt.Errorf("not structural: %w", err)
	}
	validator, _, err := apiservervalidation.NewSchemaValidator(openAPISchema)
	must(err)
	statusValidator := validator
	var status *apiextensions.CustomResourceSubresourceStatus
	var scale *apiextensions.CustomResourceSubresourceScale
	if subresources != nil {
		status, scale = subresources.Status, subresources.Scale
		if statusSchema, ok := openAPISchema.Properties["status"]; ok && status != nil {
			statusValidator, _, err = apiservervalidation.NewSchemaValidator(&statusSchema)
			must(err)
		}
	}
	gvk := schema.GroupVersionKind{Group: crd.Spec.Group, Version: name, Kind: crd.Spec.Names.Kind}
	strategy := customresource.NewStrategy(nil, crd.Spec.Scope == apiextensions.NamespaceScoped, gvk, validator, statusValidator, structural, status, scale, nil)
	return &version{gvk: gvk, structural: structural, statusValidator: statusValidator, strategy: strategy}, nil
}

func checkDocument(key string, obj map[string]any, crd *apiextensions.CustomResourceDefinition, versions map[string]*version, rep *report) {
	apiVersion, _ := obj["apiVersion"].(string)
	kind, _ := obj["kind"].(string)
	gv, err := schema.ParseGroupVersion(apiVersion)
	if err != nil || gv.Group != crd.Spec.Group || kind != crd.Spec.Names.Kind {
		rep.Skipped[key] = fmt.Sprintf("%s %s is not a %s: kubectl sends it to its own API, not to this CRD", apiVersion, kind, crd.Spec.Names.Kind)
		return
	}
	ver, served := versions[gv.Version]
	if !served {
		rep.Manifests[key] = []string{fmt.Sprintf("apiVersion: no matches for kind %q in version %q: the CRD serves %s", kind, apiVersion, servedVersions(crd))}
		return
	}

	// kubectl: the object goes to the context's namespace unless it names one.
	if crd.Spec.Scope == apiextensions.NamespaceScoped {
		metadata, isMap := obj["metadata"].(map[string]any)
		if obj["metadata"] == nil {
			metadata, isMap = map[string]any{}, true
			obj["metadata"] = metadata
		}
		if namespace, _ := metadata["namespace"].(string); isMap && namespace == "" {
			metadata["namespace"] = defaultNamespace
		}
	}

	errs := []string{}
	// Decoding: metadata is read strictly for a request (DropMalformedFields only applies to storage).
	_, _, metaUnknown, err := schemaobjectmeta.GetObjectMetaWithOptions(obj, schemaobjectmeta.ObjectMetaOptions{ReturnUnknownFieldPaths: true})
	if err != nil {
		errs = append(errs, "metadata: "+err.Error())
	}
	structuraldefaulting.Default(obj, ver.structural)
	pruned := structuralpruning.PruneWithOptions(obj, ver.structural, true, structuralschema.UnknownFieldPathOptions{TrackUnknownFieldPaths: true})
	rep.Pruned[key] = append(append([]string{}, metaUnknown...), pruned...)
	rep.Defaulted[key] = obj

	if err == nil {
		u := &unstructured.Unstructured{Object: runtime.DeepCopyJSON(obj)}
		ver.strategy.PrepareForCreate(context.Background(), u)
		for _, e := range ver.strategy.Validate(context.Background(), u) {
			errs = append(errs, e.Error())
		}
		// A create drops status (PrepareForCreate); the controller writes it through the status subresource,
		// whose schema validation this is.
		if status, ok := obj["status"]; ok {
			for _, e := range apiservervalidation.ValidateCustomResource(field.NewPath("status"), status, ver.statusValidator) {
				errs = append(errs, e.Error())
			}
		}
	}
	rep.Manifests[key] = errs
}

func servedVersions(crd *apiextensions.CustomResourceDefinition) string {
	served := []string{}
	for _, v := range crd.Spec.Versions {
		if v.Served {
			served = append(served, crd.Spec.Group+"/"+v.Name)
		}
	}
	return strings.Join(served, ", ")
}

// observeCELCosts estimates each x-kubernetes-validations rule's cost as CRD validation does: the
// compiled rule's worst case times the most times its schema node can occur in one object.
func observeCELCosts(root *apiextensions.JSONSchemaProps, rep *report) {
	envSet := environment.MustBaseEnvSet(environment.DefaultCompatibilityVersion())
	var walk func(s *apiextensions.JSONSchemaProps, ctx *validation.CELSchemaContext, path *field.Path)
	walk = func(s *apiextensions.JSONSchemaProps, ctx *validation.CELSchemaContext, path *field.Path) {
		if len(s.XValidations) > 0 {
			// A schema CEL cannot type, or a rule that does not compile, is already a CRD error.
			typeInfo, err := ctx.TypeInfo()
			if err != nil || typeInfo == nil {
				return
			}
			results, err := cel.Compile(typeInfo.Schema, typeInfo.DeclType, celconfig.PerCallLimit, envSet, cel.NewExpressionsEnvLoader())
			if err != nil {
				return
			}
			for i, r := range results {
				cardinality := r.MaxCardinality
				if ctx.MaxCardinality != nil {
					cardinality = *ctx.MaxCardinality
				}
				cost := r.MaxCost * cardinality
				if cardinality != 0 && cost/cardinality != r.MaxCost {
					cost = ^uint64(0)
				}
				rep.CELCost.Rules[path.Child("x-kubernetes-validations").Index(i).String()] = cost
				rep.CELCost.Total += cost
			}
		}
		names := make([]string, 0, len(s.Properties))
		for name := range s.Properties {
			names = append(names, name)
		}
		sort.Strings(names)
		for _, name := range names {
			prop := s.Properties[name]
			walk(&prop, ctx.ChildPropertyContext(&prop, name), path.Child("properties").Key(name))
		}
		if s.Items != nil && s.Items.Schema != nil {
			walk(s.Items.Schema, ctx.ChildItemsContext(s.Items.Schema), path.Child("items"))
		}
		if s.AdditionalProperties != nil && s.AdditionalProperties.Schema != nil {
			walk(s.AdditionalProperties.Schema, ctx.ChildAdditionalPropertiesContext(s.AdditionalProperties.Schema), path.Child("additionalProperties"))
		}
	}
	walk(root, validation.RootCELContext(root), field.NewPath("openAPIV3Schema"))
}

func emit(rep report) {
	out, _ := json.MarshalIndent(rep, "", "  ")
	fmt.Println(string(out))
	ok := len(rep.CRDErrors) == 0 && len(rep.Skipped) == 0
	for _, errs := range rep.Manifests {
		ok = ok && len(errs) == 0
	}
	for _, p := range rep.Pruned {
		ok = ok && len(p) == 0
	}
	if !ok {
		os.Exit(1)
	}
}

func must(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
}
