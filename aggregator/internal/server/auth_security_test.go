package server

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"strings"
	"testing"
)

// TestCredentialsAreComparedInConstantTime reads the authenticator's
// source: passwords go through bcrypt, tokens and user names through
// crypto/subtle, and no credential is compared with == or != (which stops
// at the first differing byte, so its timing tells how much of a guess was
// right). Comparisons with an empty literal (is it configured?) are fine.
func TestCredentialsAreComparedInConstantTime(t *testing.T) {
	data, err := os.ReadFile("auth.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, "auth.go", data, 0)
	if err != nil {
		t.Fatal(err)
	}
	src := func(n ast.Node) string {
		return strings.ToLower(string(data[fset.Position(n.Pos()).Offset:fset.Position(n.End()).Offset]))
	}
	calls := map[string]bool{}
	comparisons := 0
	ast.Inspect(f, func(n ast.Node) bool {
		switch x := n.(type) {
		case *ast.CallExpr:
			if sel, ok := x.Fun.(*ast.SelectorExpr); ok {
				if pkg, ok := sel.X.(*ast.Ident); ok {
					calls[pkg.Name+"."+sel.Sel.Name] = true
				}
			}
		case *ast.BinaryExpr:
			if x.Op != token.EQL && x.Op != token.NEQ {
				return true
			}
			comparisons++
			if isEmptyOrConst(x.X) || isEmptyOrConst(x.Y) {
				return true
			}
			for _, side := range []ast.Expr{x.X, x.Y} {
				s := src(side)
				for _, cred := range []string{"token", "pass", "hash", "sum", "user", "digest", "auth"} {
					if strings.Contains(s, cred) {
						t.Errorf("%s: %q compared with %s: use crypto/subtle or bcrypt", fset.Position(x.Pos()), s, x.Op)
					}
				}
			}
		}
		return true
	})
	for _, want := range []string{"subtle.ConstantTimeCompare", "bcrypt.CompareHashAndPassword"} {
		if !calls[want] {
			t.Errorf("auth.go never calls %s", want)
		}
	}
	if comparisons == 0 {
		t.Error("no comparison found at all: the check reads the wrong file")
	}
}

// isEmptyOrConst reports whether e is "", a number, nil, true or false.
func isEmptyOrConst(e ast.Expr) bool {
	if lit, ok := e.(*ast.BasicLit); ok {
		return lit.Value == `""` || lit.Value == "``" || lit.Kind == token.INT
	}
	id, ok := e.(*ast.Ident)
	return ok && (id.Name == "nil" || id.Name == "true" || id.Name == "false")
}
