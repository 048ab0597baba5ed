// Test infrastructure only: what the GitOps tools make of JobMatchEnvironment objects, computed by their own code.
//   - kstatus: sigs.k8s.io/cli-utils/pkg/kstatus/status.Compute, what Flux's health checks (and kstatus-based waits) use.
//   - Argo CD: a health.lua run with gopher-lua the way Argo CD runs it (util/lua/lua.go): no standard library but
//     package, base and table (SkipOpenLibs), the object as the global `obj` (decodeValue), a 1 s timeout, and the
//     returned table's status and message.
//
// Usage: gitops-check HEALTH.lua OBJECTS.json (a JSON array of objects); prints a JSON array, one
// {"name", "kstatus": {"status", "message"}, "argocd": {"status", "message"}} per object.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"time"

	lua "github.com/yuin/gopher-lua"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
)

type verdict struct {
	Status  string `json:"status"`
	Message string `json:"message"`
}

type result struct {
	Name    string  `json:"name"`
	Kstatus verdict `json:"kstatus"`
	ArgoCD  verdict `json:"argocd"`
}

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: gitops-check HEALTH.lua OBJECTS.json")
		os.Exit(2)
	}
	script, err := os.ReadFile(os.Args[1])
	check(err)
	input, err := os.ReadFile(os.Args[2])
	check(err)
	var raws []json.RawMessage
	check(json.Unmarshal(input, &raws))
	results := []result{}
	for _, raw := range raws {
		// UnmarshalJSON, as the apiserver's clients decode: integers stay int64 (kstatus refuses a float64 generation).
		u := &unstructured.Unstructured{}
		check(u.UnmarshalJSON(raw))
		k, err := status.Compute(u)
		check(err)
		a, err := argoHealth(u, string(script))
		check(err)
		results = append(results, result{Name: u.GetNamespace() + "/" + u.GetName(), Kstatus: verdict{string(k.Status), k.Message}, ArgoCD: a})
	}
	out, err := json.MarshalIndent(results, "", "  ")
	check(err)
	fmt.Println(string(out))
}

func argoHealth(u *unstructured.Unstructured, script string) (verdict, error) {
	l := lua.NewState(lua.Options{SkipOpenLibs: true})
	defer l.Close()
	for _, lib := range []struct {
		name string
		open lua.LGFunction
	}{{lua.LoadLibName, lua.OpenPackage}, {lua.BaseLibName, lua.OpenBase}, {lua.TabLibName, lua.OpenTable}} {
		if err := l.CallByParam(lua.P{Fn: l.NewFunction(lib.open), NRet: 0, Protect: true}, lua.LString(lib.name)); err != nil {
			return verdict{}, err
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	l.SetContext(ctx)
	l.SetGlobal("obj", decodeValue(l, u.Object))
	if err := l.DoString(script); err != nil {
		return verdict{}, err
	}
	returned := l.Get(-1)
	table, ok := returned.(*lua.LTable)
	if !ok {
		return verdict{}, fmt.Errorf("the health script returned %s, not a table", returned.Type())
	}
	valid := map[string]bool{"Healthy": true, "Progressing": true, "Degraded": true, "Suspended": true, "Missing": true, "Unknown": true}
	s := lua.LVAsString(table.RawGetString("status"))
	if !valid[s] {
		// Argo CD's answer to a status it does not know.
		return verdict{"Unknown", "Lua returned an invalid health status"}, nil
	}
	return verdict{s, lua.LVAsString(table.RawGetString("message"))}, nil
}

// decodeValue is Argo CD's (util/lua/lua.go): how the object becomes the Lua table `obj`.
func decodeValue(l *lua.LState, value any) lua.LValue {
	switch converted := value.(type) {
	case bool:
		return lua.LBool(converted)
	case float64:
		return lua.LNumber(converted)
	case string:
		return lua.LString(converted)
	case json.Number:
		return lua.LString(converted)
	case int:
		return lua.LNumber(converted)
	case int32:
		return lua.LNumber(converted)
	case int64:
		return lua.LNumber(converted)
	case []any:
		arr := l.CreateTable(len(converted), 0)
		for _, item := range converted {
			arr.Append(decodeValue(l, item))
		}
		return arr
	case map[string]any:
		tbl := l.CreateTable(0, len(converted))
		for key, item := range converted {
			tbl.RawSetH(lua.LString(key), decodeValue(l, item))
		}
		return tbl
	case nil:
		return lua.LNil
	}
	return lua.LNil
}

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
