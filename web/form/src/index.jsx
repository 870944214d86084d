// The page of `tc form`: renders a JSON Schema with react-jsonschema-form (rjsf), the platform's
// own form library, prefilled from the project's config file, and saves through the tc server.
// The server (tcli/form/server.py) serves this bundle under /<token>/ and answers
//   GET  api/form -> {title, file, template, schema, formData}
//   POST api/save  {formData} -> 200 {ok, file} | 422 {ok: false, errors: [{pointer, message}]}
import React, { useEffect, useState } from "react";
import { createRoot } from "react-dom/client";
import Form from "@rjsf/core";
import validator from "@rjsf/validator-ajv8";

function bounds(spec) {
  // What the platform's form enforces, written out so that a user sees it while editing.
  const parts = [];
  const lo = spec.minimum !== undefined ? `≥ ${spec.minimum}`
    : spec.exclusiveMinimum !== undefined ? `> ${spec.exclusiveMinimum}` : null;
  const hi = spec.maximum !== undefined ? `≤ ${spec.maximum}`
    : spec.exclusiveMaximum !== undefined ? `< ${spec.exclusiveMaximum}` : null;
  if (lo) parts.push(lo);
  if (hi) parts.push(hi);
  if (spec.minLength !== undefined) parts.push(`length ≥ ${spec.minLength}`);
  if (spec.maxLength !== undefined) parts.push(`length ≤ ${spec.maxLength}`);
  if (spec.default !== undefined) parts.push(`default ${JSON.stringify(spec.default)}`);
  return parts.join(" · ");
}

function uiSchemaFor(schema) {
  const ui = { "ui:submitButtonOptions": { submitText: "Save" } };
  const props = (schema && schema.properties) || {};
  for (const [key, spec] of Object.entries(props)) {
    if (spec && typeof spec === "object") {
      const help = bounds(spec);
      if (help) ui[key] = { "ui:help": help };
    }
  }
  return ui;
}

function App() {
  const [info, setInfo] = useState(null);
  const [formData, setFormData] = useState(undefined);
  const [status, setStatus] = useState({ kind: "idle", text: "" });

  useEffect(() => {
    fetch("api/form", { cache: "no-store" })
      .then((r) => (r.ok ? r.json() : Promise.reject(new Error(`HTTP ${r.status}`))))
      .then((data) => { setInfo(data); setFormData(data.formData); })
      .catch((e) => setStatus({ kind: "error", text: `cannot load the form: ${e.message}` }));
  }, []);

  if (!info) {
    return <p id="status" className={status.kind}>{status.text || "loading…"}</p>;
  }

  const save = ({ formData: data }) => {
    setStatus({ kind: "busy", text: "saving…" });
    fetch("api/save", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ formData: data }),
    })
      .then((r) => r.json().then((body) => ({ code: r.status, body })))
      .then(({ code, body }) => {
        if (code === 200 && body.ok) {
          setStatus({ kind: "saved", text: `Saved ${body.file}` });
        } else {
          const errs = (body.errors || []).map((e) => `${e.pointer || "/"}: ${e.message}`);
          setStatus({ kind: "error", text: `Not saved: ${errs.join("; ") || body.message || code}` });
        }
      })
      .catch((e) => setStatus({ kind: "error", text: `Not saved: ${e.message}` }));
  };

  const refused = (errors) => setStatus({
    kind: "error",
    text: `Not saved: ${errors.length} error${errors.length === 1 ? "" : "s"} in the form`,
  });

  return (
    <div>
      <header>
        <h1>{info.title}</h1>
        <p className="where">{info.template} · writes <code>{info.file}</code></p>
      </header>
      <Form
        schema={info.schema}
        uiSchema={uiSchemaFor(info.schema)}
        formData={formData}
        validator={validator}
        liveValidate="onChange"
        noHtml5Validate
        showErrorList="top"
        onChange={(e) => { setFormData(e.formData); setStatus({ kind: "idle", text: "" }); }}
        onSubmit={save}
        onError={refused}
      />
      <p id="status" className={status.kind} role="status">{status.text}</p>
    </div>
  );
}

createRoot(document.getElementById("root")).render(<App />);
