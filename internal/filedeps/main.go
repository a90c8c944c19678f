// Command filedeps measures how the files of one Go package depend on each
// other: for every file, the files whose package-level names, methods or
// fields it uses. It prints the edges and every cycle (a set of files that
// reach each other), which issue 17 asks to be none: a file uses only the
// files below it.
//
//	go run ./internal/filedeps ./ucoauth
//	go run ./internal/filedeps -edges ./ucoauth
//	go run ./internal/filedeps -names ./ucoauth    # the names each cycle edge uses
package main

import (
	"flag"
	"fmt"
	"go/ast"
	"go/build"
	"go/importer"
	"go/parser"
	"go/token"
	"go/types"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
)

func main() {
	edgesFlag := flag.Bool("edges", false, "print every edge, not only the cycles")
	namesFlag := flag.Bool("names", false, "print the names each edge in a cycle uses")
	flag.Parse()
	if flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: filedeps [-edges] [-names] DIR")
		os.Exit(2)
	}
	edges, names, err := fileEdges(flag.Arg(0))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	keys := make([][2]string, 0, len(edges))
	for e := range edges {
		keys = append(keys, e)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i][0]+keys[i][1] < keys[j][0]+keys[j][1] })
	fmt.Printf("%d edges between files\n", len(edges))
	if *edgesFlag {
		for _, e := range keys {
			fmt.Printf("%s -> %s (%d)\n", e[0], e[1], edges[e])
		}
	}
	cycles := cyclesOf(keys)
	for _, c := range cycles {
		fmt.Printf("cycle: %s\n", strings.Join(c, " "))
		for _, e := range keys {
			if slices.Contains(c, e[0]) && slices.Contains(c, e[1]) {
				fmt.Printf("  %s -> %s (%d)\n", e[0], e[1], edges[e])
				if *namesFlag {
					fmt.Printf("    %s\n", strings.Join(slices.Sorted(maps.Keys(names[e])), " "))
				}
			}
		}
	}
	if len(cycles) > 0 {
		os.Exit(1)
	}
}

// fileEdges type-checks the non-test files of dir and counts, per pair of
// files, the uses in the first of names declared in the second; names holds
// those names per pair.
func fileEdges(dir string) (edges map[[2]string]int, names map[[2]string]map[string]bool, err error) {
	fset := token.NewFileSet()
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, nil, err
	}
	var files []*ast.File
	for _, e := range entries {
		name := e.Name()
		if !strings.HasSuffix(name, ".go") || strings.HasSuffix(name, "_test.go") {
			continue
		}
		if ok, err := build.Default.MatchFile(dir, name); err != nil || !ok {
			continue // another platform's, or excluded by a build tag
		}
		f, err := parser.ParseFile(fset, filepath.Join(dir, name), nil, 0)
		if err != nil {
			return nil, nil, err
		}
		files = append(files, f)
	}
	conf := types.Config{Importer: importer.ForCompiler(fset, "source", nil)}
	info := &types.Info{Uses: map[*ast.Ident]types.Object{}}
	pkg, err := conf.Check(dir, fset, files, info)
	if err != nil {
		return nil, nil, err
	}
	edges, names = map[[2]string]int{}, map[[2]string]map[string]bool{}
	for id, obj := range info.Uses {
		if obj == nil || obj.Pkg() != pkg || !obj.Pos().IsValid() || !declaredAtTop(pkg, obj) {
			continue
		}
		from := filepath.Base(fset.Position(id.Pos()).Filename)
		to := filepath.Base(fset.Position(obj.Pos()).Filename)
		if from != to {
			e := [2]string{from, to}
			edges[e]++
			if names[e] == nil {
				names[e] = map[string]bool{}
			}
			names[e][obj.Name()] = true
		}
	}
	return edges, names, nil
}

// declaredAtTop reports whether obj is a package-level name, a method or a
// field: what one file can take from another.
func declaredAtTop(pkg *types.Package, obj types.Object) bool {
	switch o := obj.(type) {
	case *types.Func:
		return true
	case *types.Var:
		return o.IsField() || o.Parent() == pkg.Scope()
	default:
		return obj.Parent() == pkg.Scope()
	}
}

// cyclesOf returns the strongly connected components of more than one file
// (Tarjan's algorithm), each sorted.
func cyclesOf(edges [][2]string) [][]string {
	g := map[string][]string{}
	var nodes []string
	for _, e := range edges {
		if _, ok := g[e[0]]; !ok {
			nodes = append(nodes, e[0])
		}
		g[e[0]] = append(g[e[0]], e[1])
	}
	sort.Strings(nodes)
	index, low, on := map[string]int{}, map[string]int{}, map[string]bool{}
	var stack []string
	var out [][]string
	next := 0
	var visit func(v string)
	visit = func(v string) {
		index[v], low[v] = next, next
		next++
		stack = append(stack, v)
		on[v] = true
		for _, w := range g[v] {
			if _, seen := index[w]; !seen {
				visit(w)
				low[v] = min(low[v], low[w])
			} else if on[w] {
				low[v] = min(low[v], index[w])
			}
		}
		if low[v] != index[v] {
			return
		}
		var c []string
		for {
			w := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			on[w] = false
			c = append(c, w)
			if w == v {
				break
			}
		}
		if len(c) > 1 {
			sort.Strings(c)
			out = append(out, c)
		}
	}
	for _, n := range nodes {
		if _, seen := index[n]; !seen {
			visit(n)
		}
	}
	return out
}
