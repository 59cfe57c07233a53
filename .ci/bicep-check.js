#!/usr/bin/env node
// Syntax check for the Bicep templates, offline: the Bicep CLI cannot be
// installed here (it downloads a .NET binary), so every .bicep and
// .bicepparam file under the given directories (default: infra) is parsed
// with tree-sitter-bicep, and every ERROR or MISSING node is printed as
// file:line:col. Exits 1 if any file has one, 2 if there is nothing to check.
//
//   node .ci/bicep-check.js [dir-or-file ...]
//
// tree-sitter-bicep 1.1.0 knows `using` but not the untyped `param x = v`
// of .bicepparam files; those lines are checked as `var  x = v`, a rewrite
// of the same length, so reported positions stay exact.
'use strict';

const fs = require('fs');
const path = require('path');
const Parser = require('tree-sitter');
const Bicep = require('tree-sitter-bicep');

function collect(target, out) {
  const st = fs.statSync(target);
  if (st.isDirectory()) {
    for (const e of fs.readdirSync(target).sort()) {
      if (e === 'node_modules' || e.startsWith('.')) continue;
      collect(path.join(target, e), out);
    }
  } else if (/\.bicep(param)?$/.test(target)) {
    out.push(target);
  }
  return out;
}

// Returns "line:col: message" strings (1-based) for one source text.
function problems(source, isParam) {
  const text = isParam ? source.replace(/^([ \t]*)param([ \t])/gm, '$1var  $2') : source;
  const parser = new Parser();
  parser.setLanguage(Bicep);
  // Large files must be fed in chunks to the node binding.
  const tree = parser.parse((index) => (index < text.length ? text.slice(index, index + 4096) : null));
  const found = [];
  (function walk(node) {
    if (node.isMissing) {
      found.push(`${node.startPosition.row + 1}:${node.startPosition.column + 1}: missing ${node.type}`);
    } else if (node.type === 'ERROR') {
      const snippet = node.text.split('\n')[0].slice(0, 60);
      found.push(`${node.startPosition.row + 1}:${node.startPosition.column + 1}: syntax error near ${JSON.stringify(snippet)}`);
    }
    if (node.hasError || node.isMissing) {
      for (const child of node.children) walk(child);
    }
  })(tree.rootNode);
  return found;
}

function main(argv) {
  const targets = argv.length ? argv : ['infra'];
  const files = [];
  for (const t of targets) collect(t, files);
  if (files.length === 0) {
    console.error(`bicep-check: no .bicep or .bicepparam files under ${targets.join(' ')}`);
    return 2;
  }
  let bad = 0;
  for (const f of files) {
    const found = problems(fs.readFileSync(f, 'utf8'), f.endsWith('.bicepparam'));
    for (const p of found) console.log(`${f}:${p}`);
    if (found.length) bad++;
  }
  console.log(`bicep-check: ${files.length} file(s), ${bad} with errors`);
  return bad ? 1 : 0;
}

if (require.main === module) {
  process.exitCode = main(process.argv.slice(2));
}

module.exports = { problems };
