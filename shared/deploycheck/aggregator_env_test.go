package deploycheck

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/branchwatch/branchwatch/shared/config"
)

// constValue is a constant of the aggregator's options package, evaluated
// as far as its defaults need: strings, integers, and durations written as
// N * time.Unit.
type constValue struct {
	str      string
	dur      time.Duration
	isDur    bool
	resolved bool
}

var timeUnits = map[string]time.Duration{
	"Nanosecond": time.Nanosecond, "Microsecond": time.Microsecond, "Millisecond": time.Millisecond,
	"Second": time.Second, "Minute": time.Minute, "Hour": time.Hour,
}

func evalConst(e ast.Expr) constValue {
	switch e := e.(type) {
	case *ast.BasicLit:
		switch e.Kind {
		case token.STRING:
			s, _ := strconv.Unquote(e.Value)
			return constValue{str: s, resolved: true}
		case token.INT:
			return constValue{str: e.Value, resolved: true}
		}
	case *ast.SelectorExpr:
		if id, ok := e.X.(*ast.Ident); ok && id.Name == "time" {
			if u, ok := timeUnits[e.Sel.Name]; ok {
				return constValue{dur: u, isDur: true, resolved: true}
			}
		}
	case *ast.BinaryExpr:
		l, r := evalConst(e.X), evalConst(e.Y)
		if e.Op == token.MUL && l.resolved && r.resolved {
			if r.isDur && !l.isDur {
				n, err := strconv.Atoi(l.str)
				if err == nil {
					return constValue{dur: time.Duration(n) * r.dur, isDur: true, resolved: true}
				}
			}
		}
	}
	return constValue{}
}

// packageConsts reads every top-level constant of the Go package in dir.
func packageConsts(t *testing.T, dir string) map[string]constValue {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no Go files in %s (%v)", dir, err)
	}
	fset := token.NewFileSet()
	out := map[string]constValue{}
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		file, err := parser.ParseFile(fset, f, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, decl := range file.Decls {
			gd, ok := decl.(*ast.GenDecl)
			if !ok || gd.Tok != token.CONST {
				continue
			}
			for _, spec := range gd.Specs {
				vs := spec.(*ast.ValueSpec)
				for i, name := range vs.Names {
					if i < len(vs.Values) {
						out[name.Name] = evalConst(vs.Values[i])
					}
				}
			}
		}
	}
	return out
}

// TestAggregatorVariablesDocumented: every variable the aggregator reads
// (its options package's Env* constants and the shared BACKUP_S3_* ones) is
// in deploy/env/aggregator.env.example, with the code's default where the
// code names one (DefaultX for EnvX), and the example names nothing else.
func TestAggregatorVariablesDocumented(t *testing.T) {
	root := repoRoot(t)
	consts := packageConsts(t, filepath.Join(root, "aggregator/internal/options"))
	ex, err := ParseEnvExample(filepath.Join(root, "deploy/env/aggregator.env.example"))
	if err != nil {
		t.Fatal(err)
	}
	read := map[string]string{} // variable → constant
	for name, v := range consts {
		if strings.HasPrefix(name, "Env") && v.resolved && !v.isDur {
			read[v.str] = name
		}
	}
	if len(read) < 10 {
		t.Fatalf("found only %d Env* constants in aggregator/internal/options: the scan is broken", len(read))
	}
	for _, s3 := range []string{config.EnvS3Endpoint, config.EnvS3Bucket, config.EnvS3AccessKey,
		config.EnvS3SecretKey, config.EnvS3Region, config.EnvS3ForcePathStyle} {
		read[s3] = "config." + s3
	}
	for v, c := range read {
		doc, ok := ex.Lookup(v)
		if !ok {
			t.Errorf("%s (%s) is not documented in aggregator.env.example", v, c)
			continue
		}
		def, has := consts["Default"+strings.TrimPrefix(c, "Env")]
		if !has || !def.resolved {
			continue
		}
		got := strings.TrimSpace(strings.SplitN(doc.Default, "  (", 2)[0])
		if def.isDur {
			d, err := time.ParseDuration(got)
			if err != nil || d != def.dur {
				t.Errorf("%s: the example says \"Default: %s\", the code's default is %s", v, doc.Default, def.dur)
			}
		} else if got != def.str {
			t.Errorf("%s: the example says \"Default: %s\", the code's default is %q", v, doc.Default, def.str)
		}
	}
	for _, v := range ex.Vars {
		if _, ok := read[v.Name]; !ok {
			t.Errorf("line %d: %s is documented but the aggregator does not read it", v.Line, v.Name)
		}
	}
}

func TestEvalConst(t *testing.T) {
	cases := []struct {
		src  string
		want constValue
	}{
		{`"127.0.0.1:8080"`, constValue{str: "127.0.0.1:8080", resolved: true}},
		{`16`, constValue{str: "16", resolved: true}},
		{`5 * time.Minute`, constValue{dur: 5 * time.Minute, isDur: true, resolved: true}},
		{`time.Hour`, constValue{dur: time.Hour, isDur: true, resolved: true}},
		{`len("x")`, constValue{}},
	}
	for _, tc := range cases {
		t.Run(tc.src, func(t *testing.T) {
			e, err := parser.ParseExpr(tc.src)
			if err != nil {
				t.Fatal(err)
			}
			if got := evalConst(e); got != tc.want {
				t.Errorf("evalConst(%s) = %+v, want %+v", tc.src, got, tc.want)
			}
		})
	}
}
