// The operator's dashboard. Plain browser JavaScript, no build step; charts by uPlot (vendor/uplot, committed unchanged).
// Data: /admin/usage (rollups), /admin/limits (limits and what is left), /admin/stats (this replica's metrics),
// /admin/deployments (models and providers for the filters), /admin/keys and /admin/teams (runtime keys and teams: create, edit,
// rotate, revoke, delete). The admin key lives in sessionStorage and goes with every
// call as a bearer token; no cookies are used, so there is nothing for another site to ride on.
"use strict";
(() => {
  const STORAGE = "gateway-admin-key";
  const MAX_SERIES = 8;
  const PALETTE = ["#0b57d0", "#b3261e", "#146c2e", "#8c4a00", "#6a1b9a", "#00677f", "#5f6368", "#9c6500", "#3949ab"];
  const $ = (id) => document.getElementById(id);
  const charts = new Map();
  let polling = null;
  let optionsLoaded = false;

  // ---------- the API ----------
  class ApiError extends Error {
    constructor(status, message, code) { super(message); this.status = status; this.code = code; }
  }

  async function api(path, { blob = false, method = "GET", body = undefined } = {}) {
    let response;
    try {
      const headers = { Authorization: "Bearer " + sessionStorage.getItem(STORAGE) };
      if (body !== undefined) headers["Content-Type"] = "application/json";
      response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), cache: "no-store" });
    } catch {
      throw new ApiError(0, "The gateway cannot be reached. Is it running, and is this page served by it?");
    }
    if (!response.ok) {
      let message = `${response.status} ${response.statusText}`, code = null;
      try { const body = await response.json(); message = body.error.message; code = body.error.code; } catch { /* not JSON */ }
      throw new ApiError(response.status, message, code);
    }
    return blob ? response.blob() : response.json();
  }

  function showMessage(text) {
    const box = $("message");
    box.textContent = text;
    box.hidden = !text;
  }

  function explain(error) {
    if (error.status === 401 || error.status === 403) {
      signOut();
      showMessage(`The admin key was refused (${error.message}). Sign in again with a key that has "Admin": true.`);
    } else if (error.status === 503) {
      showMessage(`The data cannot be read right now: ${error.message} The dashboard tries again with the next refresh.`);
    } else {
      showMessage(error.message || String(error));
    }
  }

  // ---------- formatting ----------
  const usd = (micros) => {
    const v = micros / 1e6;
    return "$" + (v !== 0 && Math.abs(v) < 0.01 ? v.toFixed(6) : v.toLocaleString("en-US", { minimumFractionDigits: 2, maximumFractionDigits: 2 }));
  };
  const int = (n) => Number(n).toLocaleString("en-US");
  // Axis ticks: short, so they fit beside the chart (the legend and tables give exact figures).
  const usdTick = (micros) => {
    const v = micros / 1e6;
    return v === 0 ? "$0" : "$" + (Math.abs(v) >= 1 ? v.toFixed(2) : Number(v.toPrecision(2)).toString());
  };
  const intTick = (n) => (n >= 1e6 ? (n / 1e6).toPrecision(3) + "M" : n >= 1e4 ? (n / 1e3).toPrecision(3) + "k" : int(Math.round(n)));
  const pct = (part, whole) => (whole > 0 ? (100 * part / whole).toFixed(1) + "%" : "–");
  const ms = (v) => (v == null ? "–" : v < 1000 ? v.toFixed(1) + " ms" : (v / 1000).toFixed(2) + " s");
  const today = () => new Date().toISOString().slice(0, 10);
  const addDays = (day, n) => new Date(Date.parse(day + "T00:00:00Z") + n * 86400000).toISOString().slice(0, 10);
  const periodSeconds = (p) => Date.parse(p.length > 10 ? p + ":00:00Z" : p + "T00:00:00Z") / 1000;

  function el(tag, attributes = {}, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attributes)) {
      if (name === "class") node.className = value; else node.setAttribute(name, value);
    }
    for (const child of children) node.append(child instanceof Node ? child : document.createTextNode(child ?? ""));
    return node;
  }

  /** A table with a caption and header cells; every value is text (never HTML), so names cannot inject markup. */
  function table(containerId, caption, headers, rows, emptyText) {
    const container = $(containerId);
    container.replaceChildren();
    if (rows.length === 0) {
      container.append(el("p", { class: "muted" }, emptyText || "Nothing recorded."));
      return;
    }
    const head = el("tr", {}, ...headers.map((h) => el("th", { scope: "col" }, h)));
    const body = rows.map((cells) => el("tr", {}, ...cells.map((c, i) => (i === 0 ? el("th", { scope: "row" }, c) : el("td", {}, c)))));
    container.append(el("table", {}, el("caption", {}, caption), el("thead", {}, head), el("tbody", {}, ...body)));
  }

  function meter(used, limit) {
    const share = limit > 0 ? Math.min(1, used / limit) : 0;
    const bar = el("span", { class: "meter" + (share >= 1 ? " full" : ""), "aria-hidden": "true" }, el("span"));
    bar.firstChild.style.width = (share * 100).toFixed(0) + "%";
    return bar;
  }

  // ---------- filters ----------
  function filters() {
    return {
      start: $("f-start").value, end: $("f-end").value, key: $("f-key").value,
      model: $("f-model").value, provider: $("f-provider").value, stack: $("f-stack").value,
    };
  }

  function usageUrl(f, params) {
    const q = new URLSearchParams(params);
    for (const name of ["key", "model", "provider"]) if (f[name]) q.set(name, f[name]);
    return "/admin/usage?" + q.toString();
  }

  function fillSelect(id, values) {
    const select = $(id);
    const chosen = select.value;
    const first = select.options[0];
    select.replaceChildren(first, ...values.map((v) => el("option", { value: v }, v)));
    select.value = values.includes(chosen) ? chosen : "";
  }

  async function loadOptions() {
    const [keys, deployments] = await Promise.all([api("/admin/limits"), api("/admin/deployments")]);
    fillSelect("f-key", keys.data.map((k) => k.key));
    fillSelect("f-model", deployments.data.map((m) => m.model));
    fillSelect("f-provider", [...new Set(deployments.data.flatMap((m) => m.deployments.map((d) => d.provider)))].sort());
    optionsLoaded = true;
  }

  // ---------- charts ----------
  /**
   * Stacked bars per period: one series per group (the largest MAX_SERIES, the rest as "other"), drawn as cumulative
   * sums from the top down so each visible band is one group; the legend and the table give each group's own value.
   */
  function stackedChart(id, rows, periodField, periods, stack, valueOf, format, tick) {
    const container = $(id);
    const totals = new Map();
    for (const r of rows) totals.set(r[stack], (totals.get(r[stack]) || 0) + valueOf(r));
    let groups = [...totals.entries()].filter(([, v]) => v > 0).sort((a, b) => b[1] - a[1]).map(([g]) => g);
    const other = groups.length > MAX_SERIES ? new Set(groups.slice(MAX_SERIES - 1)) : new Set();
    if (other.size) groups = [...groups.slice(0, MAX_SERIES - 1), "other"];
    const index = new Map(periods.map((p, i) => [p, i]));
    const raw = groups.map(() => new Array(periods.length).fill(0));
    for (const r of rows) {
      const g = other.has(r[stack]) ? "other" : r[stack];
      const gi = groups.indexOf(g), pi = index.get(r[periodField]);
      if (gi >= 0 && pi !== undefined) raw[gi][pi] += valueOf(r);
    }
    const tableId = id + "-table";
    table(tableId, `${periodField === "hour" ? "Hour (UTC)" : "Day (UTC)"} by ${stack}`, [periodField, ...groups],
      periods.map((p, i) => [p, ...raw.map((s) => format(s[i]))]).filter((_, i) => raw.some((s) => s[i] !== 0)));

    charts.get(id)?.destroy();
    charts.delete(id);
    container.replaceChildren();
    if (groups.length === 0) {
      container.append(el("p", { class: "empty" }, "No data for this range and these filters."));
      return;
    }
    const cumulative = raw.map((_, gi) => periods.map((_, pi) => raw.slice(0, gi + 1).reduce((sum, s) => sum + s[pi], 0)));
    const order = groups.map((_, gi) => gi).reverse();
    const series = [{ label: periodField === "hour" ? "Hour (UTC)" : "Day (UTC)" }, ...order.map((gi) => ({
      label: groups[gi],
      stroke: PALETTE[gi % PALETTE.length],
      fill: PALETTE[gi % PALETTE.length],
      paths: uPlot.paths.bars({ size: [0.8, 64] }),
      value: (u, v, si, di) => (di == null ? "–" : format(raw[gi][di])),
      points: { show: false },
    }))];
    const options = {
      width: Math.max(280, container.clientWidth),
      height: 240,
      tzDate: (ts) => uPlot.tzDate(new Date(ts * 1000), "Etc/UTC"),
      series,
      axes: [{}, { values: (u, ticks) => ticks.map(tick), size: 64 }],
      scales: { x: { time: true }, y: { range: (u, min, max) => [0, Math.max(max, 1e-9)] } },
      legend: { live: true },
    };
    const data = [periods.map(periodSeconds), ...order.map((gi) => cumulative[gi])];
    charts.set(id, new uPlot(options, data, container));
  }

  function days(start, end) {
    const out = [];
    for (let d = start; d <= end; d = addDays(d, 1)) out.push(d);
    return out;
  }

  function last48Hours() {
    const now = Math.floor(Date.now() / 3600000) * 3600000;
    const out = [];
    for (let h = 47; h >= 0; h--) out.push(new Date(now - h * 3600000).toISOString().slice(0, 13));
    return out;
  }

  // ---------- the views ----------
  function renderTotals(t) {
    const items = [
      ["Requests", int(t.requests)], ["Spend", usd(t.cost_micros)], ["Tokens", int(t.prompt_tokens + t.completion_tokens)],
      ["Failed", pct(t.failed_requests, t.requests)], ["Cache hits", int(t.cache_hits)], ["Saved by the cache", usd(t.saved_micros)],
    ];
    $("totals").replaceChildren(el("dl", { style: "display:contents" }, ...items.map(([k, v]) => el("div", {}, el("dt", {}, k), el("dd", {}, v)))));
  }

  /** The keys with the most spend in the range, at most 20: the keys table's rows. */
  function topKeys(byKey) {
    return [...byKey.data].sort((a, b) => b.cost_micros - a.cost_micros).slice(0, 20);
  }

  function renderKeys(byKey, keys) {
    const limits = new Map(keys.data.map((k) => [k.key, k.limits]));
    const describe = (key, kind) => {
      const limit = (limits.get(key) || []).find((l) => l.kind === kind);
      if (!limit) return "no limit";
      // A key without a limit of its own may be held by its team's: say whose it is.
      const whose = limit.team ? ` (team ${limit.team})` : "";
      return (kind.startsWith("budget")
        ? `${usd(limit.used)} of ${usd(limit.limit)} (${pct(limit.used, limit.limit)})`
        : `${int(limit.remaining)} of ${int(limit.limit)} left`) + whose;
    };
    const budgetCell = (key) => {
      const limit = (limits.get(key) || []).find((l) => l.kind.startsWith("budget"));
      if (!limit) return "no budget";
      const cell = el("span", {}, meter(limit.used, limit.limit), describe(key, limit.kind) + (limit.kind.endsWith("day") ? " today" : " this month"));
      return cell;
    };
    const rows = topKeys(byKey).map((r) => [
      r.key, usd(r.cost_micros), int(r.requests), int(r.prompt_tokens + r.completion_tokens), budgetCell(r.key),
      describe(r.key, "requests_per_window"), describe(r.key, "tokens_per_window"), describe(r.key, "concurrent_requests"),
    ]);
    table("keys-table", "Keys by spend in the range (at most 20)",
      ["Key", "Spend", "Requests", "Tokens", "Budget used", "Requests left (window)", "Tokens left (window)", "In flight"], rows,
      "No key has used the gateway in this range.");
  }

  function renderProviders(stats) {
    $("providers-note").textContent = `From the metrics of replica ${stats.replica}: every replica answers for itself; Prometheus has the whole fleet.`;
    table("providers-table", `Per provider, last ${stats.minutes} minutes`,
      ["Provider", "Requests", "Errors (5xx)", "Fallbacks away", "TTFT p50", "TTFT p95", "Total p50", "Total p95"],
      stats.providers.map((p) => [p.provider, int(p.requests), `${int(p.failures)} (${pct(p.failures, p.requests)})`, int(p.fallbacks),
        ms(p.first_token_p50_ms), ms(p.first_token_p95_ms), ms(p.total_p50_ms), ms(p.total_p95_ms)]),
      `No provider calls on this replica in the last ${stats.minutes} minutes.`);
  }

  function renderTasks(stats) {
    const entries = Object.entries(stats.tasks_waiting);
    $("tasks").replaceChildren(entries.length === 0
      ? el("p", { class: "muted" }, "No Hive V2 task has waited on this replica since it started.")
      : el("ul", {}, ...entries.map(([provider, n]) => el("li", {}, `${provider}: ${int(n)} waiting`))));
  }

  function renderCredits(stats) {
    const credits = stats.credits || [];
    $("credits").replaceChildren(credits.length === 0
      ? el("p", { class: "muted" }, "No provider has reported a balance to this replica yet.")
      : el("ul", {}, ...credits.map((c) => el("li", c.low ? { class: "low" } : {},
          `${c.provider}: ${c.remaining.toLocaleString("en-US")} credits left${c.low ? " (below the warning level)" : ""}`))));
  }

  function renderUsageSource(byProvider) {
    table("usage-source-table", "Token counts by source, per provider",
      ["Provider", "Requests", "Estimated by the gateway", "Share estimated"],
      byProvider.data.filter((r) => r.provider !== "-").map((r) => [r.provider, int(r.requests), int(r.estimated_requests), pct(r.estimated_requests, r.requests)]),
      "No provider answered in this range.");
  }

  function renderCache(byStack, stack) {
    const rows = new Map();
    for (const r of byStack.data) {
      const row = rows.get(r[stack]) || { requests: 0, hits: 0, saved: 0 };
      row.requests += r.requests; row.hits += r.cache_hits; row.saved += r.saved_micros;
      rows.set(r[stack], row);
    }
    table("cache-table", `Cache hits and savings by ${stack}`, [stack[0].toUpperCase() + stack.slice(1), "Requests", "Cache hits", "Hit rate", "Saved"],
      [...rows.entries()].filter(([, r]) => r.hits > 0).sort((a, b) => b[1].saved - a[1].saved)
        .map(([name, r]) => [name, int(r.requests), int(r.hits), pct(r.hits, r.requests), usd(r.saved)]),
      "No cache hits in this range (the cache is off unless a model or key has a Cache block; see the README).");
  }

  async function refresh() {
    const f = filters();
    if (!f.start || !f.end || f.start > f.end) {
      showMessage("Choose a start date on or before the end date.");
      return;
    }
    try {
      if (!optionsLoaded) await loadOptions();
      const hourStart = addDays(today(), -2);
      const [daily, hourly, byKey, byProvider, stats, byTeam] = await Promise.all([
        api(usageUrl(f, { start: f.start, end: f.end, group_by: "day," + f.stack })),
        api(usageUrl(f, { start: hourStart, end: today(), group_by: "hour," + f.stack })),
        api(usageUrl(f, { start: f.start, end: f.end, group_by: "key" })),
        api(usageUrl(f, { start: f.start, end: f.end, group_by: "provider" })),
        api("/admin/stats?minutes=15"),
        api(usageUrl(f, { start: f.start, end: f.end, group_by: "team" })),
      ]);
      // Limits for the keys the table shows (at most 20), not for every key the gateway has.
      const top = topKeys(byKey);
      const keys = top.length === 0 ? { data: [] }
        : await api("/admin/limits?" + top.map((r) => "key=" + encodeURIComponent(r.key)).join("&"));
      showMessage("");
      $("empty").hidden = daily.totals.requests > 0;
      renderTotals(daily.totals);
      const range = days(f.start, f.end);
      const hours = last48Hours();
      const tokens = (r) => r.prompt_tokens + r.completion_tokens;
      stackedChart("spend-day", daily.data, "day", range, f.stack, (r) => r.cost_micros, usd, usdTick);
      stackedChart("tokens-day", daily.data, "day", range, f.stack, tokens, int, intTick);
      stackedChart("spend-hour", hourly.data, "hour", hours, f.stack, (r) => r.cost_micros, usd, usdTick);
      stackedChart("tokens-hour", hourly.data, "hour", hours, f.stack, tokens, int, intTick);
      renderKeys(byKey, keys);
      renderProviders(stats);
      renderTasks(stats);
      renderCredits(stats);
      renderUsageSource(byProvider);
      renderCache(daily, f.stack);
      await loadKeys();
      await loadTeams(byTeam);
      $("updated").textContent = "Updated " + new Date().toISOString().slice(11, 19) + " UTC";
      document.body.dataset.loaded = "true";
    } catch (error) {
      explain(error);
    }
  }

  async function poll() {
    try {
      const stats = await api("/admin/stats?minutes=15");
      renderTasks(stats);
      renderCredits(stats);
      renderProviders(stats);
    } catch (error) {
      explain(error);
    }
  }

  async function download() {
    const f = filters();
    try {
      const blob = await api(usageUrl(f, { start: f.start, end: f.end, group_by: "day,key,model,provider", format: "csv" }), { blob: true });
      const link = el("a", { href: URL.createObjectURL(blob), download: `usage-${f.start}-to-${f.end}.csv` });
      document.body.append(link);
      link.click();
      link.remove();
      setTimeout(() => URL.revokeObjectURL(link.href), 10000);
    } catch (error) {
      explain(error);
    }
  }

  // ---------- runtime keys ----------
  let editing = null;

  function keyBody(creating) {
    const number = (id) => ($(id).value === "" ? undefined : Number($(id).value));
    const body = {
      models: $("k-models").value.split(",").map((m) => m.trim()).filter((m) => m),
      limits: { requests_per_minute: number("k-rpm"), tokens_per_minute: number("k-tpm") },
      budget: $("k-budget").value === "" ? null : { usd: Number($("k-budget").value), period: $("k-period").value },
      expires_at: $("k-expires").value ? $("k-expires").value + "T00:00:00Z" : null,
      team: $("k-team").value.trim() || null,
    };
    if (creating) body.name = $("k-name").value.trim();
    return body;
  }

  function showSecret(name, secret) {
    $("key-secret-name").textContent = name;
    $("key-secret-value").textContent = secret;
    $("key-secret").hidden = false;
  }

  function editKey(key) {
    editing = key.name;
    $("k-name").value = key.name;
    $("k-name").readOnly = true;
    $("k-models").value = key.models.join(", ");
    $("k-team").value = key.team ?? "";
    $("k-rpm").value = key.limits.requests_per_minute ?? "";
    $("k-tpm").value = key.limits.tokens_per_minute ?? "";
    $("k-budget").value = key.budget ? key.budget.usd : "";
    $("k-period").value = key.budget ? key.budget.period : "month";
    $("k-expires").value = key.expires_at ? key.expires_at.slice(0, 10) : "";
    $("k-save").textContent = "Save " + key.name;
    $("k-cancel").hidden = false;
    $("k-name").focus();
  }

  function stopEditing() {
    editing = null;
    $("key-form").reset();
    $("k-name").readOnly = false;
    $("k-save").textContent = "Create key";
    $("k-cancel").hidden = true;
  }

  async function saveKey(event) {
    event.preventDefault();
    try {
      if (editing) {
        await api("/admin/keys/" + encodeURIComponent(editing), { method: "PATCH", body: keyBody(false) });
      } else {
        const made = await api("/admin/keys", { method: "POST", body: keyBody(true) });
        showSecret(made.name, made.key);
      }
      stopEditing();
      showMessage("");
      await loadKeys();
    } catch (error) {
      explain(error);
    }
  }

  async function rotateKey(name) {
    try {
      const made = await api("/admin/keys/" + encodeURIComponent(name) + "/rotate", { method: "POST", body: { grace_seconds: Number($("k-grace").value || 0) } });
      showSecret(made.name, made.key);
      await loadKeys();
    } catch (error) {
      explain(error);
    }
  }

  /** A button that acts on a second click within five seconds: a stray click must not cut anyone off. */
  function confirmButton(attributes, label, confirmText, action) {
    const button = el("button", { type: "button", ...attributes }, label);
    let armed = null;
    button.addEventListener("click", async () => {
      if (!armed) {
        button.textContent = confirmText;
        armed = setTimeout(() => { armed = null; button.textContent = label; }, 5000);
        return;
      }
      clearTimeout(armed);
      try {
        await action();
      } catch (error) {
        explain(error);
      }
    });
    return button;
  }

  function revokeButton(name) {
    return confirmButton({ "data-action": "revoke", "data-key": name }, "Revoke", "Click again to revoke " + name, async () => {
      await api("/admin/keys/" + encodeURIComponent(name), { method: "DELETE" });
      await loadKeys();
    });
  }

  async function loadKeys() {
    const keys = (await api("/admin/keys")).data.filter((k) => k.source === "runtime");
    const limitText = (k) => [k.limits.requests_per_minute != null ? int(k.limits.requests_per_minute) + " req/min" : null,
      k.limits.tokens_per_minute != null ? int(k.limits.tokens_per_minute) + " tok/min" : null,
      k.budget ? usd(k.budget.usd * 1e6) + " / " + k.budget.period : null].filter((x) => x).join(", ") || "defaults";
    table("runtime-keys-table", "Keys made at runtime", ["Name", "Prefix", "Status", "Team", "Models", "Limits", "Expires", "Last used here", ""],
      keys.map((k) => {
        const actions = el("span", { class: "row-actions" });
        if (k.status !== "revoked") {
          const edit = el("button", { type: "button", "data-action": "edit", "data-key": k.name }, "Edit");
          edit.addEventListener("click", () => editKey(k));
          const rotate = el("button", { type: "button", "data-action": "rotate", "data-key": k.name }, "Rotate");
          rotate.addEventListener("click", () => rotateKey(k.name));
          actions.append(edit, " ", rotate, " ", revokeButton(k.name));
        }
        return [k.name, k.prefix, k.status, k.team ?? "–", k.models.join(", "), limitText(k), k.expires_at ? k.expires_at.slice(0, 10) : "never",
          k.last_used_at ? k.last_used_at.replace("T", " ").replace("Z", " UTC") : "–", actions];
      }), "No keys made at runtime yet: create one above.");
  }

  // ---------- teams ----------
  let editingTeam = null;
  let teamSpend = new Map();

  function teamBody(creating) {
    const number = (id) => ($(id).value === "" ? undefined : Number($(id).value));
    const body = {
      limits: { requests_per_minute: number("t-rpm"), tokens_per_minute: number("t-tpm"), concurrent_requests: number("t-concurrent") },
      budget: $("t-budget").value === "" ? null : { usd: Number($("t-budget").value), period: $("t-period").value },
    };
    if (creating) body.name = $("t-name").value.trim();
    return body;
  }

  function editTeam(team) {
    editingTeam = team.name;
    $("t-name").value = team.name;
    $("t-name").readOnly = true;
    $("t-rpm").value = team.limits.requests_per_minute ?? "";
    $("t-tpm").value = team.limits.tokens_per_minute ?? "";
    $("t-concurrent").value = team.limits.concurrent_requests ?? "";
    $("t-budget").value = team.budget ? team.budget.usd : "";
    $("t-period").value = team.budget ? team.budget.period : "month";
    $("t-save").textContent = "Save " + team.name;
    $("t-cancel").hidden = false;
    $("t-name").focus();
  }

  function stopEditingTeam() {
    editingTeam = null;
    $("team-form").reset();
    $("t-name").readOnly = false;
    $("t-save").textContent = "Create team";
    $("t-cancel").hidden = true;
  }

  async function saveTeam(event) {
    event.preventDefault();
    try {
      if (editingTeam) {
        await api("/admin/teams/" + encodeURIComponent(editingTeam), { method: "PATCH", body: teamBody(false) });
      } else {
        await api("/admin/teams", { method: "POST", body: teamBody(true) });
      }
      stopEditingTeam();
      showMessage("");
      await loadTeams();
    } catch (error) {
      explain(error);
    }
  }

  function deleteTeamButton(name) {
    return confirmButton({ "data-action": "delete-team", "data-team": name }, "Delete", "Click again to delete " + name, async () => {
      await api("/admin/teams/" + encodeURIComponent(name), { method: "DELETE" });
      await loadTeams();
    });
  }

  /** The teams, their keys, their budget this period (the team's own counter) and their spend in the chosen range. */
  async function loadTeams(byTeam) {
    if (byTeam) teamSpend = new Map(byTeam.data.map((r) => [r.team, r.cost_micros]));
    const teams = (await api("/admin/teams")).data;
    const limitText = (t) => [t.limits.requests_per_minute != null ? int(t.limits.requests_per_minute) + " req/min" : null,
      t.limits.tokens_per_minute != null ? int(t.limits.tokens_per_minute) + " tok/min" : null,
      t.limits.concurrent_requests != null ? int(t.limits.concurrent_requests) + " at once" : null].filter((x) => x).join(", ") || "none";
    const budgetCell = (t) => {
      const counter = (t.counters || []).find((c) => c.kind.startsWith("budget"));
      if (!t.budget) return "no budget";
      if (!counter) return usd(t.budget.usd * 1e6) + " / " + t.budget.period;
      return el("span", {}, meter(counter.used, counter.limit),
        `${usd(counter.used)} of ${usd(counter.limit)} (${pct(counter.used, counter.limit)}) ${t.budget.period === "day" ? "today" : "this month"}`);
    };
    table("teams-table", "Teams", ["Team", "Limits", "Budget used", "Spend in the range", "Keys", ""],
      teams.map((t) => {
        const edit = el("button", { type: "button", "data-action": "edit-team", "data-team": t.name }, "Edit");
        edit.addEventListener("click", () => editTeam(t));
        return [t.name, limitText(t), budgetCell(t), usd(teamSpend.get(t.name) || 0), t.keys.join(", ") || "–",
          el("span", { class: "row-actions" }, edit, " ", deleteTeamButton(t.name))];
      }), "No teams yet: create one above, then give keys its name.");
  }

  // ---------- signing in and out ----------
  function signedIn() {
    $("sign-in").hidden = true;
    $("dashboard").hidden = false;
    $("sign-out").hidden = false;
    if (!$("f-end").value) { $("f-end").value = today(); $("f-start").value = addDays(today(), -29); }
    refresh();
    clearInterval(polling);
    polling = setInterval(poll, 5000);
  }

  function signOut() {
    sessionStorage.removeItem(STORAGE);
    clearInterval(polling);
    optionsLoaded = false;
    $("dashboard").hidden = true;
    $("sign-out").hidden = true;
    $("sign-in").hidden = false;
    delete document.body.dataset.loaded;
    $("admin-key").focus();
  }

  document.addEventListener("DOMContentLoaded", () => {
    $("sign-in-form").addEventListener("submit", (event) => {
      event.preventDefault();
      sessionStorage.setItem(STORAGE, $("admin-key").value.trim());
      $("admin-key").value = "";
      showMessage("");
      signedIn();
    });
    $("sign-out").addEventListener("click", () => { signOut(); showMessage(""); });
    $("filters").addEventListener("submit", (event) => { event.preventDefault(); refresh(); });
    $("download").addEventListener("click", download);
    $("key-form").addEventListener("submit", saveKey);
    $("k-cancel").addEventListener("click", stopEditing);
    $("team-form").addEventListener("submit", saveTeam);
    $("t-cancel").addEventListener("click", stopEditingTeam);
    $("key-copy").addEventListener("click", async () => {
      try {
        await navigator.clipboard.writeText($("key-secret-value").textContent);
        $("key-copy").textContent = "Copied";
      } catch {
        showMessage("Copying was refused by the browser; select the secret and copy it by hand.");
      }
    });
    let resizing = null;
    window.addEventListener("resize", () => {
      clearTimeout(resizing);
      resizing = setTimeout(() => { for (const [id, chart] of charts) chart.setSize({ width: Math.max(280, $(id).clientWidth), height: 240 }); }, 150);
    });
    if (sessionStorage.getItem(STORAGE)) signedIn(); else $("admin-key").focus();
  });
})();
