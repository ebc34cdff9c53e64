package api

import (
	_ "embed"
	"encoding/json"
	"net/http"
	"sort"
	"strings"

	"github.com/labstack/echo/v4"
)

// OpenAPI is the OpenAPI 3 description of every route the aggregator
// serves (the API, the export, the operations endpoints and the dashboard's
// pages), served at /api/v1/openapi.json. A test holds it to the routes.
//
//go:embed openapi.json
var OpenAPI []byte

// Route is one entry of the /api/v1 index.
type Route struct {
	Method  string `json:"method"`
	Path    string `json:"path"`
	Summary string `json:"summary"`
}

// Index is what /api/v1 answers.
type Index struct {
	Version string  `json:"version"`
	OpenAPI string  `json:"openapi"`
	Routes  []Route `json:"routes"`
}

// apiIndex is the index, read once from the embedded description: the
// routes under /api/v1 and the export, by path.
var apiIndex = func() Index {
	var doc struct {
		Paths map[string]map[string]struct {
			Summary string `json:"summary"`
		} `json:"paths"`
	}
	if err := json.Unmarshal(OpenAPI, &doc); err != nil {
		panic("api: embedded openapi.json: " + err.Error())
	}
	idx := Index{Version: "v1", OpenAPI: "/api/v1/openapi.json", Routes: []Route{}}
	for path, ops := range doc.Paths {
		if !strings.HasPrefix(path, "/api/v1") && path != "/export.csv" {
			continue
		}
		for method, op := range ops {
			idx.Routes = append(idx.Routes, Route{Method: strings.ToUpper(method), Path: path, Summary: op.Summary})
		}
	}
	sort.Slice(idx.Routes, func(i, j int) bool {
		a, b := idx.Routes[i], idx.Routes[j]
		if a.Path != b.Path {
			return a.Path < b.Path
		}
		return a.Method < b.Method
	})
	return idx
}()

func (h Handlers) index(c echo.Context) error {
	return c.JSON(http.StatusOK, apiIndex)
}

func (h Handlers) openAPI(c echo.Context) error {
	return c.Blob(http.StatusOK, echo.MIMEApplicationJSON, OpenAPI)
}
