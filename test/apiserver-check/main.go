// Test infrastructure only: checks the CRD and manifests with the kube-apiserver's own code
// (apiextensions validation, structural schema, defaulting, pruning and OpenAPI validation),
// so "a real kube-apiserver accepts it" is tested without running one.
//
// Usage: go run . CRD.yaml [MANIFEST.yaml ...]; prints one JSON report and exits 0 when everything is accepted.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"

	"k8s.io/apiextensions-apiserver/pkg/apis/apiextensions"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/validation"
	structuralschema "k8s.io/apiextensions-apiserver/pkg/apiserver/schema"
	structuraldefaulting "k8s.io/apiextensions-apiserver/pkg/apiserver/schema/defaulting"
	structuralpruning "k8s.io/apiextensions-apiserver/pkg/apiserver/schema/pruning"
	apiservervalidation "k8s.io/apiextensions-apiserver/pkg/apiserver/validation"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"sigs.k8s.io/yaml"
)

type report struct {
	CRDErrors []string            `json:"crdErrors"`
	Manifests map[string][]string `json:"manifests"`
	Defaulted map[string]any      `json:"defaulted"`
	Pruned    map[string][]string `json:"pruned"`
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: apiserver-check CRD.yaml [MANIFEST.yaml ...]")
		os.Exit(2)
	}
	rep := report{CRDErrors: []string{}, Manifests: map[string][]string{}, Defaulted: map[string]any{}, Pruned: map[string][]string{}}
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
	// The internal version hoists a schema shared by every version to spec.validation.
	schema := crd.Spec.Validation.OpenAPIV3Schema
	structural, err := structuralschema.NewStructural(schema)
	if err != nil {
		rep.CRDErrors = append(rep.CRDErrors, "not structural: "+err.Error())
		emit(rep)
		return
	}
	validator, _, err := apiservervalidation.NewSchemaValidator(schema)
	must(err)
	for _, path := range os.Args[2:] {
		data, err := os.ReadFile(path)
		must(err)
		for i, doc := range strings.Split(string(data), "\n---") {
			var obj map[string]any
			if err := yaml.Unmarshal([]byte(doc), &obj); err != nil || obj == nil {
				continue
			}
			key := fmt.Sprintf("%s#%d", path, i+1)
			structuraldefaulting.Default(obj, structural)
			pruned := structuralpruning.PruneWithOptions(obj, structural, true, structuralschema.UnknownFieldPathOptions{TrackUnknownFieldPaths: true})
			rep.Pruned[key] = append([]string{}, pruned...)
			errs := apiservervalidation.ValidateCustomResource(field.NewPath(""), runtime.DeepCopyJSONValue(obj), validator)
			list := []string{}
			for _, e := range errs {
				list = append(list, e.Error())
			}
			rep.Manifests[key] = list
			rep.Defaulted[key] = obj
		}
	}
	emit(rep)
}

func emit(rep report) {
	out, _ := json.MarshalIndent(rep, "", "  ")
	fmt.Println(string(out))
	ok := len(rep.CRDErrors) == 0
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
