// chamberlain console: live updates (server-sent events) and in-browser proof verification.
// Written for chamberlain; no third-party code. Runs under a CSP without inline scripts.
"use strict";

const PIN_KEY = "chamberlain.console.verifierKey";
const HEAD_KEY = "chamberlain.console.verifiedHead"; // + ".name+keyid": the last head verified under that key

function showBars(root) {
  for (const fill of root.querySelectorAll(".fill[data-pct]")) {
    fill.style.width = `${Number(fill.dataset.pct) || 0}%`;
  }
}

// "3m 12s" for each <time data-ago>: filled here so that the server's rows stay the same from one
// refresh to the next and are replaced only when what they show changed.
function showAges(root) {
  const now = Date.now();
  for (const time of root.querySelectorAll("time[data-ago][datetime]")) {
    const when = Date.parse(time.getAttribute("datetime"));
    if (Number.isNaN(when)) continue;
    const s = Math.max(0, Math.floor((now - when) / 1000));
    time.textContent = s < 60 ? `${s}s`
      : s < 3600 ? `${Math.floor(s / 60)}m ${s % 60}s`
      : `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`;
    time.title = time.getAttribute("datetime");
  }
}

// Replaces only the rows whose HTML changed (a row is keyed by data-session), so that a row under the
// pointer is not swapped between a button's mousedown and mouseup, which would swallow the click.
function patchRows(target, html) {
  const fresh = document.createElement("tbody");
  fresh.innerHTML = html; // HTML the server rendered (autoescaped)
  const key = (row) => row.dataset.session ?? "";
  const old = new Map(Array.from(target.children, (row) => [key(row), row]));
  const rows = Array.from(fresh.children).map((row) => {
    const kept = old.get(key(row));
    if (kept && kept.dataset.html === row.outerHTML) return kept;
    row.dataset.html = row.outerHTML;
    return row;
  });
  const same = rows.length === target.children.length && rows.every((row, i) => target.children[i] === row);
  if (!same) target.replaceChildren(...rows);
}

function startLive() {
  const target = document.querySelector("[data-live]");
  if (!target || !window.EventSource) return;
  const status = document.querySelector("[data-live-status]");
  for (const row of target.children) row.dataset.html = row.outerHTML; // as served, before showBars
  const source = new EventSource(target.dataset.live);
  source.addEventListener("open", () => { if (status) status.textContent = "live"; });
  source.addEventListener("error", () => { if (status) status.textContent = "reconnecting…"; });
  source.addEventListener("sessions", (event) => {
    patchRows(target, event.data);
    showBars(target);
    showAges(target);
    target.dispatchEvent(new CustomEvent("chamberlain:updated"));
    if (status) status.textContent = `live (updated ${new Date().toLocaleTimeString()})`;
  });
  source.addEventListener("ended", () => { source.close(); if (status) status.textContent = "logged out"; });
}

// ---- bytes ------------------------------------------------------------------------------------

function hex(bytes) {
  return Array.from(new Uint8Array(bytes), (b) => b.toString(16).padStart(2, "0")).join("");
}

function fromHex(text) {
  if (!/^([0-9a-f]{2})*$/i.test(text)) throw new Error(`not hex: ${text.slice(0, 20)}`);
  return new Uint8Array(text.match(/../g)?.map((h) => parseInt(h, 16)) ?? []);
}

function fromBase64(text) {
  const raw = atob(text);
  return Uint8Array.from(raw, (c) => c.charCodeAt(0));
}

function concat(...parts) {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) { out.set(p, at); at += p.length; }
  return out;
}

async function sha256(bytes) {
  return new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
}

function same(a, b) {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

// ---- RFC 9162 and C2SP signed notes -----------------------------------------------------------

async function leafHash(leafText) {
  return sha256(concat(new Uint8Array([0]), new TextEncoder().encode(leafText)));
}

async function nodeHash(left, right) {
  return sha256(concat(new Uint8Array([1]), left, right));
}

// RFC 9162 section 2.1.3.2: the root an inclusion proof leads to.
async function rootFromInclusion(index, size, leaf, path) {
  if (index >= size) throw new Error(`entry ${index} is not in a tree of ${size}`);
  let fn = BigInt(index), sn = BigInt(size - 1), r = leaf;
  for (const p of path) {
    if (sn === 0n) throw new Error("the proof is longer than the tree allows");
    if ((fn & 1n) === 1n || fn === sn) {
      r = await nodeHash(p, r);
      if ((fn & 1n) === 0n) {
        while ((fn & 1n) === 0n && fn !== 0n) { fn >>= 1n; sn >>= 1n; }
      }
    } else {
      r = await nodeHash(r, p);
    }
    fn >>= 1n; sn >>= 1n;
  }
  if (sn !== 0n) throw new Error("the proof is shorter than the tree needs");
  return r;
}

// RFC 9162 section 2.1.4.2: whether a consistency proof shows the tree of size second, with root
// secondRoot, extends the tree of size first, with root firstRoot. Throws saying why not.
async function verifyConsistency(first, second, firstRoot, secondRoot, path) {
  if (!(0 < first && first <= second)) throw new Error(`sizes ${first} and ${second}: need 0 < first <= second`);
  if (first === second) {
    if (path.length) throw new Error("a consistency proof between equal sizes must be empty");
    if (!same(firstRoot, secondRoot)) throw new Error("equal tree sizes with different root hashes");
    return;
  }
  if (!path.length) throw new Error("empty consistency proof");
  if ([firstRoot, secondRoot, ...path].some((h) => h.length !== 32)) throw new Error("a hash is not 32 bytes");
  const nodes = [...path];
  let fn = BigInt(first - 1), sn = BigInt(second - 1);
  if ((BigInt(first) & BigInt(first - 1)) === 0n) nodes.unshift(firstRoot); // a power of two
  while ((fn & 1n) === 1n) { fn >>= 1n; sn >>= 1n; }
  let fr = nodes[0], sr = nodes[0];
  for (const c of nodes.slice(1)) {
    if (sn === 0n) throw new Error("the consistency proof is longer than the tree is deep");
    if ((fn & 1n) === 1n || fn === sn) {
      fr = await nodeHash(c, fr);
      sr = await nodeHash(c, sr);
      if ((fn & 1n) === 0n) {
        while ((fn & 1n) === 0n && fn !== 0n) { fn >>= 1n; sn >>= 1n; }
      }
    } else {
      sr = await nodeHash(sr, c);
    }
    fn >>= 1n; sn >>= 1n;
  }
  if (sn !== 0n) throw new Error("the consistency proof is shorter than the tree is deep");
  if (!same(fr, firstRoot)) throw new Error("the consistency proof does not lead to the root verified before");
  if (!same(sr, secondRoot)) throw new Error("the consistency proof does not lead to the signed head's root");
}

// The last head this browser verified for a verifier key: {size, root (hex)}, or null.
function rememberedHead(verifier) {
  try {
    const found = JSON.parse(localStorage.getItem(`${HEAD_KEY}.${verifier.name}+${verifier.id}`) || "null");
    return found && Number.isSafeInteger(found.size) && /^[0-9a-f]{64}$/.test(found.root) ? found : null;
  } catch {
    return null;
  }
}

function rememberHead(verifier, head) {
  localStorage.setItem(`${HEAD_KEY}.${verifier.name}+${verifier.id}`, JSON.stringify({ size: head.size, root: hex(head.root) }));
}

// That the signed head extends the one verified before (RFC 9162 consistency); throws when it does not.
async function checkExtends(before, head, material, step) {
  if (!before) return;
  if (head.size < before.size) {
    throw new Error(`the log shrank: you verified ${before.size} entries before, its signed head now covers ${head.size}`);
  }
  if (material.consistency_error) throw new Error(material.consistency_error);
  const path = head.size === before.size ? [] : (material.consistency?.consistency_path ?? []).map(fromHex);
  if (head.size !== before.size && material.consistency?.first !== before.size) {
    throw new Error(`the server sent no consistency proof from ${before.size} entries`);
  }
  await verifyConsistency(before.size, head.size, fromHex(before.root), head.root, path);
  step(`consistent with the head you verified before (${before.size} entries, root ${before.root.slice(0, 16)}…): the log only grew`, true);
}

async function parseVerifierKey(text) {
  // name+keyid+base64: the base64 part may itself hold "+", so split at the first two only.
  const m = /^([^+\s]+)\+([0-9a-f]{8})\+(\S+)$/i.exec(text.trim());
  if (!m) throw new Error("expected name+keyid+base64");
  const [, name, id, data] = m;
  const raw = fromBase64(data);
  if (raw.length !== 33 || raw[0] !== 1) throw new Error("not an Ed25519 verifier key");
  const publicKey = raw.slice(1);
  const digest = await sha256(concat(new TextEncoder().encode(`${name}\n`), new Uint8Array([1]), publicKey));
  if (hex(digest.slice(0, 4)) !== id.toLowerCase()) throw new Error("the key id does not match the name and key");
  return { name, id: id.toLowerCase(), publicKey };
}

async function openCheckpoint(note, verifier) {
  const cut = note.lastIndexOf("\n\n");
  if (cut < 0) throw new Error("the head is not a signed note");
  const text = note.slice(0, cut + 1);
  const lines = note.slice(cut + 2).split("\n").filter((l) => l);
  const key = await crypto.subtle.importKey("raw", verifier.publicKey, { name: "Ed25519" }, false, ["verify"]);
  let signed = false;
  for (const line of lines) {
    const m = /^\u2014 (\S+) (\S+)$/.exec(line);
    if (!m || m[1] !== verifier.name) continue;
    const raw = fromBase64(m[2]);
    if (hex(raw.slice(0, 4)) !== verifier.id) continue;
    if (!(await crypto.subtle.verify({ name: "Ed25519" }, key, raw.slice(4), new TextEncoder().encode(text)))) {
      throw new Error(`the head's signature by ${verifier.name} does not verify`);
    }
    signed = true;
  }
  if (!signed) throw new Error(`the head is not signed by the pinned key ${verifier.name}+${verifier.id}`);
  const [origin, size, root] = text.split("\n");
  return { origin, size: Number(size), root: fromBase64(root) };
}

// An entry whose content is gone must be listed by an erasure entry after it, itself proven in the
// same signed head: content removed by someone with the database file, without an erasure, is tampering.
async function checkErasure(material, head, step) {
  const erasure = material.erasure;
  if (!erasure) { step("its content is missing and names no erasure entry", false); return false; }
  const leaf = await leafHash(erasure.leaf);
  const path = erasure.inclusion.audit_path.map(fromHex);
  const root = await rootFromInclusion(erasure.seq, head.size, leaf, path);
  const proven = erasure.inclusion.tree_size === head.size && same(root, head.root);
  const fields = JSON.parse(erasure.leaf);
  const ranges = Array.isArray(fields.erased) ? fields.erased : [];
  const lists = fields.kind === "erasure" && erasure.seq > material.seq &&
    ranges.some((r) => Array.isArray(r) && r[0] <= material.seq && material.seq <= r[1]);
  step(`its content was erased by entry #${erasure.seq}: ${proven ? "proven in the signed head" : "not in the signed head"}, ${lists ? "which lists it" : "which does not list it"}`, proven && lists);
  return proven && lists;
}

async function verifyEntry(section) {
  const verdict = section.querySelector("[data-verdict]");
  const steps = section.querySelector("[data-steps]");
  steps.textContent = "";
  const step = (text, ok) => {
    const li = document.createElement("li");
    li.textContent = text;
    li.className = ok ? "ok" : "bad";
    steps.append(li);
  };
  const finish = (text, kind) => { verdict.textContent = text; verdict.className = kind; section.dataset.result = kind; };
  const pinned = localStorage.getItem(PIN_KEY);
  if (!pinned) return finish("NOT VERIFIED: pin the log's verifier key first", "unknown");
  try {
    const verifier = await parseVerifierKey(pinned);
    step(`pinned key ${verifier.name}+${verifier.id}`, true);
    const before = rememberedHead(verifier);
    const url = before ? `${section.dataset.proof}?since=${before.size}` : section.dataset.proof;
    const answer = await fetch(url, { credentials: "same-origin", cache: "no-store" });
    const material = await answer.json();
    if (!answer.ok) return finish(`NOT VERIFIED: ${material.error || answer.status}`, "unknown");
    const head = await openCheckpoint(material.head.checkpoint, verifier);
    step(`signed head: ${head.size} entries, root ${hex(head.root).slice(0, 16)}…, signature valid`, true);
    try {
      await checkExtends(before, head, material, step);
    } catch (error) {
      step(String(error.message || error), false);
      return finish(`TAMPERED: the signed log was rewritten since you verified it at ${before.size} entries (${error.message || error})`, "tampered");
    }
    const leaf = await leafHash(material.leaf);
    const claimed = fromHex(material.inclusion.leaf_hash);
    step(`leaf hash of the entry as shown: ${hex(leaf).slice(0, 16)}…`, same(leaf, claimed));
    const path = material.inclusion.audit_path.map(fromHex);
    const root = await rootFromInclusion(material.seq, head.size, leaf, path);
    if (material.inclusion.tree_size !== head.size) throw new Error("the proof is for another tree size");
    const ok = same(root, head.root);
    step(`inclusion proof (${path.length} hashes) leads to ${hex(root).slice(0, 16)}…`, ok);
    if (!ok) return finish("TAMPERED: this entry is not the one the signed log holds", "tampered");
    const fields = JSON.parse(material.leaf);
    for (const [name, what] of [["content", "its content (who, what, conditions)"], ["request", "its call's request"]]) {
      const digest = fields[name];
      if (fields.v !== 2 || !digest) continue;
      const stored = material[name];
      if (!stored && name === "content") {
        const erasure = await checkErasure(material, head, step);
        if (!erasure) return finish(`TAMPERED: ${what} was removed, and no erasure entry in the signed log lists it`, "tampered");
        continue;
      }
      if (!stored) {
        const erased = !material.content;
        step(`${what}: ${erased ? "erased with the entry's content" : "missing while the content is kept"}`, erased);
        if (!erased) return finish(`TAMPERED: ${what} was removed`, "tampered");
        continue;
      }
      const actual = hex(await sha256(concat(fromBase64(stored.salt), fromBase64(stored.data))));
      const matches = actual === digest;
      step(`${what}: salted SHA-256 ${matches ? "matches" : "does not match"} the leaf`, matches);
      if (!matches) return finish(`TAMPERED: ${what} was changed after it was logged`, "tampered");
    }
    rememberHead(verifier, head);
    finish("VERIFIED: the signed log holds this exact entry and content", "verified");
  } catch (error) {
    step(String(error.message || error), false);
    finish(`TAMPERED or unverifiable: ${error.message || error}`, "tampered");
  }
}

function startPin() {
  for (const box of document.querySelectorAll("[data-pin]")) {
    const shown = box.querySelector("[data-pinned]");
    const input = box.querySelector("[data-pin-input]");
    const refresh = () => { shown.textContent = localStorage.getItem(PIN_KEY) || "none"; };
    refresh();
    box.querySelector("[data-pin-save]").addEventListener("click", async () => {
      try {
        await parseVerifierKey(input.value);
        localStorage.setItem(PIN_KEY, input.value.trim());
        refresh();
      } catch (error) {
        shown.textContent = `not pinned: ${error.message}`;
      }
    });
    box.querySelector("[data-pin-clear]").addEventListener("click", () => { localStorage.removeItem(PIN_KEY); refresh(); });
  }
}

document.addEventListener("DOMContentLoaded", () => {
  startLive();
  showBars(document);
  showAges(document);
  setInterval(() => showAges(document), 1000);
  startPin();
  for (const section of document.querySelectorAll("[data-proof]")) {
    section.querySelector("[data-verify]").addEventListener("click", () => verifyEntry(section));
  }
  const next = document.querySelector("a[data-auto]");
  if (next) window.location.replace(next.href);
});
