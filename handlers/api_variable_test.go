package handlers

import (
	"bytes"
	"context"
	"net/http"
	"strings"
	"testing"
)

func TestVariablesAPI(t *testing.T) {
	f := newPromoServer(t).project(t, "shop")
	const secret = "s3cr3t-Value-that-must-never-show"
	base := "/api/v1/projects/shop/environments/staging/variables"
	put := func(who, name, body string) (int, string) {
		resp, b := f.ts.do(http.MethodPut, base+"/"+name, reqOpts{token: f.tokens[who], ctype: "application/json", body: body})
		return resp.StatusCode, b
	}
	get := func(who, path string) (int, string) {
		resp, b := f.ts.do(http.MethodGet, path, reqOpts{token: f.tokens[who]})
		return resp.StatusCode, b
	}
	var bodies []string
	seen := func(b string) string { bodies = append(bodies, b); return b }

	t.Run("only an admin manages variables, as on the settings page", func(t *testing.T) {
		for _, who := range []string{"dora", "lena", "quinn", "vic"} {
			if code, b := put(who, "GREETING", `{"value":"hi"}`); code != http.StatusForbidden {
				t.Errorf("%s PUT: %d %s", who, code, b)
			}
			if code, b := get(who, base); code != http.StatusForbidden {
				t.Errorf("%s GET list: %d %s", who, code, b)
			}
			if code, b := get(who, base+"/GREETING"); code != http.StatusForbidden {
				t.Errorf("%s GET one: %d %s", who, code, b)
			}
			resp, b := f.ts.do(http.MethodDelete, base+"/GREETING", reqOpts{token: f.tokens[who]})
			if resp.StatusCode != http.StatusForbidden {
				t.Errorf("%s DELETE: %d %s", who, resp.StatusCode, b)
			}
		}
		resp, _ := f.ts.do(http.MethodGet, base, reqOpts{})
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("anonymous GET: %d", resp.StatusCode)
		}
	})

	t.Run("an admin sets a variable and a secret; the secret's value never comes back", func(t *testing.T) {
		code, b := put("root", "GREETING", `{"value":"hi there"}`)
		wantStatus(t, code, seen(b), http.StatusCreated, `"value":"hi there"`)
		code, b = put("root", "GREETING", `{"value":"hello"}`)
		wantStatus(t, code, seen(b), http.StatusOK, `"value":"hello"`)
		code, b = put("root", "API_TOKEN", `{"value":"`+secret+`","secret":true}`)
		wantStatus(t, code, seen(b), http.StatusCreated, `"secret":true`)
		code, b = get("root", base+"/API_TOKEN")
		wantStatus(t, code, seen(b), http.StatusOK, `"name":"API_TOKEN"`)
		if strings.Contains(b, `"value"`) {
			t.Fatalf("a secret's value is write-only: %s", b)
		}
		code, b = get("root", base)
		wantStatus(t, code, seen(b), http.StatusOK, `"name":"GREETING"`)
		if !strings.Contains(b, `"name":"API_TOKEN","secret":true,"updated_at"`) || strings.Contains(b, `"value"`) {
			t.Fatalf("the list gives names, flags and times only: %s", b)
		}
		vars, err := f.ts.store.EnvironmentVariables(context.Background(), f.envs["staging"].ID)
		if err != nil || len(vars) != 2 {
			t.Fatalf("stored: %+v %v", vars, err)
		}
		for _, v := range vars {
			if v.Name == "API_TOKEN" && (v.Value != "" || bytes.Contains(v.ValueSealed, []byte(secret))) {
				t.Fatal("the secret must be stored sealed")
			}
		}
	})

	t.Run("bad names and bodies are 4xx in the API's error shape", func(t *testing.T) {
		for _, tc := range []struct {
			name, body string
			code       int
			want       string
		}{
			{"PORT", `{"value":"1"}`, http.StatusUnprocessableEntity, `{"error":"PORT is reserved: Slipway sets PORT to the port the app must listen on."}`},
			{"SLIPWAY_RELEASE", `{"value":"1"}`, http.StatusUnprocessableEntity, "Slipway sets the SLIPWAY_* variables itself"},
			// The same list as .slipway.yml: any SLIPWAY_ name, and the
			// addresses the app must bind.
			{"SLIPWAY_FOO", `{"value":"1"}`, http.StatusUnprocessableEntity, "Slipway sets the SLIPWAY_* variables itself"},
			{"HOST", `{"value":"0.0.0.0"}`, http.StatusUnprocessableEntity, "HOST is reserved"},
			{"1ABC", `{"value":"1"}`, http.StatusUnprocessableEntity, "letters, digits and underscores"},
			{"A-B", `{"value":"1"}`, http.StatusUnprocessableEntity, "letters, digits and underscores"},
			{"OK_NAME", `{}`, http.StatusUnprocessableEntity, "value is required"},
			{"OK_NAME", `{"value":1}`, http.StatusBadRequest, `"error":"invalid JSON body`},
			{"OK_NAME", `{"value":"x","colour":"red"}`, http.StatusBadRequest, `"error":"invalid JSON body`},
		} {
			code, b := put("root", tc.name, tc.body)
			wantStatus(t, code, seen(b), tc.code, tc.want)
		}
		code, b := get("root", base+"/NOPE")
		wantStatus(t, code, b, http.StatusNotFound, `"error":"no variable NOPE in staging"`)
		code, b = get("root", "/api/v1/projects/shop/environments/nowhere/variables")
		wantStatus(t, code, b, http.StatusNotFound, `"error":`)
	})

	t.Run("deleting works once, then is a 404", func(t *testing.T) {
		resp, b := f.ts.do(http.MethodDelete, base+"/API_TOKEN", reqOpts{token: f.tokens["root"]})
		wantStatus(t, resp.StatusCode, b, http.StatusNoContent, "")
		resp, b = f.ts.do(http.MethodDelete, base+"/API_TOKEN", reqOpts{token: f.tokens["root"]})
		wantStatus(t, resp.StatusCode, b, http.StatusNotFound, "no variable API_TOKEN")
	})

	t.Run("every change is audited like the settings page, without values", func(t *testing.T) {
		var got []string
		for _, e := range f.ts.events() {
			if e.ObjectType == "environment" {
				got = append(got, e.ActorName+" "+e.Action+" "+e.Details)
			}
		}
		all := strings.Join(got, "\n")
		for _, want := range []string{
			`root variable.set {"environment":"staging","name":"GREETING","project":"shop"}`,
			`root secret.set {"environment":"staging","name":"API_TOKEN","project":"shop"}`,
			`root secret.set {"environment":"staging","name":"API_TOKEN","project":"shop","removed":true}`,
		} {
			if !strings.Contains(all, want) {
				t.Errorf("audit lacks %q:\n%s", want, all)
			}
		}
		if n := strings.Count(all, "variable.set"); n != 2 {
			t.Errorf("two variable changes, %d events:\n%s", n, all)
		}
		if strings.Contains(all, "hi there") || strings.Contains(all, secret) {
			t.Fatalf("values leaked into the audit trail:\n%s", all)
		}
		resp, csv := f.ts.do(http.MethodGet, "/audit.csv", reqOpts{session: f.session["root"]})
		if resp.StatusCode != http.StatusOK || !strings.Contains(csv, "API_TOKEN") || strings.Contains(csv, secret) {
			t.Fatalf("audit export: %d, leaks the secret: %v", resp.StatusCode, strings.Contains(csv, secret))
		}
	})

	for _, b := range bodies {
		if strings.Contains(b, secret) {
			t.Fatalf("a response carried the secret's value: %s", b)
		}
	}
}
