/* eventlake: a small searchable multi-select dropdown (no dependencies).
 *
 * new MultiSelect(container, {name, label, selected, onChange})
 *   .setOptions(values)   replace the option list (strings)
 *   .value()              the selected values (array)
 *   .setValue(values)     select exactly these values (no onChange)
 * The widget never uses innerHTML with data: option values come from the warehouse.
 */
(function () {
  "use strict";

  function el(tag, attrs, text) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === "class") node.className = v;
      else node.setAttribute(k, v);
    }
    if (text !== undefined) node.textContent = text;
    return node;
  }

  let counter = 0;

  class MultiSelect {
    constructor(container, opts) {
      this.name = opts.name;
      this.label = opts.label || opts.name;
      this.onChange = opts.onChange || function () {};
      this.options = [];
      this.selected = new Set(opts.selected || []);
      const id = "ms-" + ++counter;
      this.root = el("div", { class: "ms", "data-filter": this.name });
      this.labelEl = el("label", { class: "ms-label", for: id }, this.label);
      this.button = el("button", {
        type: "button", class: "ms-button", id: id,
        "aria-haspopup": "listbox", "aria-expanded": "false",
      });
      this.panel = el("div", { class: "ms-panel", hidden: "" });
      this.search = el("input", {
        type: "search", class: "ms-search", placeholder: "Search " + this.label.toLowerCase(),
        "aria-label": "Search " + this.label,
      });
      this.list = el("ul", { class: "ms-list", role: "listbox", "aria-multiselectable": "true" });
      this.clear = el("button", { type: "button", class: "ms-clear" }, "Clear");
      this.panel.append(this.search, this.list, this.clear);
      this.root.append(this.labelEl, this.button, this.panel);
      container.append(this.root);

      this.button.addEventListener("click", () => this.toggle());
      this.search.addEventListener("input", () => this.renderList());
      this.clear.addEventListener("click", () => {
        this.selected.clear();
        this.renderList();
        this.renderButton();
        this.onChange(this.value());
      });
      document.addEventListener("click", (ev) => {
        if (!this.root.contains(ev.target)) this.close();
      });
      this.root.addEventListener("keydown", (ev) => {
        if (ev.key === "Escape") { this.close(); this.button.focus(); }
      });
      this.renderButton();
    }

    toggle() { this.panel.hidden ? this.open() : this.close(); }

    open() {
      this.panel.hidden = false;
      this.button.setAttribute("aria-expanded", "true");
      this.renderList();
      this.search.focus();
    }

    close() {
      if (this.panel.hidden) return;
      this.panel.hidden = true;
      this.button.setAttribute("aria-expanded", "false");
    }

    setOptions(values) {
      this.options = values.slice();
      // Keep selections from the URL even if the value is not in today's data.
      for (const v of this.selected) if (!this.options.includes(v)) this.options.push(v);
      this.renderList();
    }

    value() { return Array.from(this.selected).sort(); }

    setValue(values) {
      this.selected = new Set(values);
      this.renderButton();
      this.renderList();
    }

    renderButton() {
      const vals = this.value();
      let text = "All";
      if (vals.length === 1) text = vals[0];
      else if (vals.length > 1) text = vals.length + " selected";
      this.button.textContent = text;
      this.button.classList.toggle("ms-active", vals.length > 0);
    }

    renderList() {
      const q = this.search.value.trim().toLowerCase();
      this.list.replaceChildren();
      const shown = this.options.filter((v) => !q || String(v).toLowerCase().includes(q));
      if (!shown.length) {
        this.list.append(el("li", { class: "ms-empty" }, this.options.length ? "No match" : "No values yet"));
        return;
      }
      for (const value of shown) {
        const item = el("li", { role: "option", "aria-selected": String(this.selected.has(value)) });
        const box = el("input", { type: "checkbox", "data-value": value });
        box.checked = this.selected.has(value);
        const text = el("span", {}, value);
        const lab = el("label", { class: "ms-option" });
        lab.append(box, text);
        item.append(lab);
        box.addEventListener("change", () => {
          if (box.checked) this.selected.add(value); else this.selected.delete(value);
          item.setAttribute("aria-selected", String(box.checked));
          this.renderButton();
          this.onChange(this.value());
        });
        this.list.append(item);
      }
    }
  }

  window.MultiSelect = MultiSelect;
})();
