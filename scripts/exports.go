//go:build ignore

// Command exports counts a package's exported identifiers the way issue 17
// measures them: package-level names, plus the exported methods and fields
// of exported types (interface methods included). Constants named Scope*
// (UltraCart's OAuth scopes) are counted apart. Test files are skipped.
//
//	scripts/exports [-v] [./ucoauth ./tokenstore ./ucoauthtest]
package main

import (
	"flag"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

func main() {
	verbose := flag.Bool("v", false, "list every counted name")
	flag.Parse()
	dirs := flag.Args()
	if len(dirs) == 0 {
		dirs = []string{"./ucoauth", "./tokenstore", "./ucoauthtest"}
	}
	for _, dir := range dirs {
		names, scopes, err := count(dir)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		fmt.Printf("%s\t%d exported (+%d scope constants)\n", dir, len(names), scopes)
		if *verbose {
			for _, n := range names {
				fmt.Println("\t" + n)
			}
		}
	}
}

func count(dir string) (names []string, scopes int, err error) {
	fset := token.NewFileSet()
	pkgs, err := parser.ParseDir(fset, dir, func(fi os.FileInfo) bool {
		return !strings.HasSuffix(fi.Name(), "_test.go")
	}, 0)
	if err != nil {
		return nil, 0, err
	}
	seen := map[string]bool{}
	add := func(n string) {
		if !seen[n] {
			seen[n] = true
			names = append(names, n)
		}
	}
	exportedType := map[string]bool{}
	for _, p := range pkgs {
		if strings.HasSuffix(p.Name, "_test") || p.Name == "main" && filepath.Base(dir) != "main" && len(pkgs) > 1 {
			continue
		}
		for _, f := range p.Files {
			for _, d := range f.Decls {
				if g, ok := d.(*ast.GenDecl); ok && g.Tok == token.TYPE {
					for _, s := range g.Specs {
						if ts := s.(*ast.TypeSpec); ts.Name.IsExported() {
							exportedType[ts.Name.Name] = true
						}
					}
				}
			}
		}
		for _, f := range p.Files {
			for _, d := range f.Decls {
				switch d := d.(type) {
				case *ast.FuncDecl:
					if !d.Name.IsExported() {
						continue
					}
					if d.Recv == nil {
						add(d.Name.Name)
						continue
					}
					if r := recvName(d.Recv.List[0].Type); exportedType[r] {
						add(r + "." + d.Name.Name)
					}
				case *ast.GenDecl:
					for _, s := range d.Specs {
						switch s := s.(type) {
						case *ast.ValueSpec:
							for _, n := range s.Names {
								if !n.IsExported() {
									continue
								}
								if d.Tok == token.CONST && strings.HasPrefix(n.Name, "Scope") {
									scopes++
									continue
								}
								add(n.Name)
							}
						case *ast.TypeSpec:
							if !s.Name.IsExported() {
								continue
							}
							add(s.Name.Name)
							members(s.Name.Name, s.Type, add)
						}
					}
				}
			}
		}
	}
	sort.Strings(names)
	return names, scopes, nil
}

// members adds the exported fields of a struct type and the exported
// methods of an interface type.
func members(typ string, e ast.Expr, add func(string)) {
	var list *ast.FieldList
	switch t := e.(type) {
	case *ast.StructType:
		list = t.Fields
	case *ast.InterfaceType:
		list = t.Methods
	default:
		return
	}
	for _, f := range list.List {
		for _, n := range f.Names {
			if n.IsExported() {
				add(typ + "." + n.Name)
			}
		}
		if len(f.Names) == 0 { // embedded
			if id := recvName(f.Type); ast.IsExported(id) {
				add(typ + "." + id)
			}
		}
	}
}

func recvName(e ast.Expr) string {
	switch t := e.(type) {
	case *ast.StarExpr:
		return recvName(t.X)
	case *ast.IndexExpr:
		return recvName(t.X)
	case *ast.IndexListExpr:
		return recvName(t.X)
	case *ast.SelectorExpr:
		return t.Sel.Name
	case *ast.Ident:
		return t.Name
	}
	return ""
}
