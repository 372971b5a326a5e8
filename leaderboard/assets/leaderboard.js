// Sortable tables and row filters for the static leaderboard. No dependencies, no network.
"use strict";

function cellKey(row, index, numeric) {
  const cell = row.children[index];
  const raw = cell ? cell.getAttribute("data-sort") : "";
  if (!numeric) return (raw || "").toLowerCase();
  const value = parseFloat(raw);
  return Number.isNaN(value) ? null : value;
}

function sortTable(table, index, numeric, descending) {
  const body = table.tBodies[0];
  const rows = Array.from(body.rows);
  rows.sort((a, b) => {
    const x = cellKey(a, index, numeric);
    const y = cellKey(b, index, numeric);
    if (x === y) return 0;
    if (x === null) return 1; // missing values last, whatever the direction
    if (y === null) return -1;
    const order = x < y ? -1 : 1;
    return descending ? -order : order;
  });
  rows.forEach((row) => body.appendChild(row));
}

function makeSortable(table) {
  const headers = Array.from(table.tHead.rows[0].cells);
  headers.forEach((header, index) => {
    const activate = () => {
      const numeric = header.getAttribute("data-type") === "number";
      const descending = header.getAttribute("aria-sort") === "ascending";
      headers.forEach((h) => h.removeAttribute("aria-sort"));
      header.setAttribute("aria-sort", descending ? "descending" : "ascending");
      sortTable(table, index, numeric, descending);
    };
    header.addEventListener("click", activate);
    header.addEventListener("keydown", (event) => {
      if (event.key === "Enter" || event.key === " ") {
        event.preventDefault();
        activate();
      }
    });
  });
}

function applyFilters() {
  const family = document.getElementById("filter-family").value;
  const env = document.getElementById("filter-env").value;
  document.querySelectorAll("section.family").forEach((section) => {
    section.hidden = family !== "" && section.getAttribute("data-family") !== family;
  });
  document.querySelectorAll("tr[data-env]").forEach((row) => {
    row.hidden = env !== "" && row.getAttribute("data-env") !== env;
  });
}

document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll("table.sortable").forEach(makeSortable);
  const filters = document.getElementById("filters");
  if (filters) {
    filters.addEventListener("change", applyFilters);
    applyFilters();
  }
});
