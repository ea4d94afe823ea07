function setUnit(group, unit){
  document.querySelectorAll('[data-unit-group="' + group + '"] .js-plotly-plot').forEach(function(gd){
    var xs = gd.data.map(function(t){ return t.customdata.map(function(c){ return unit === 'pct' ? c[0] : c[1]; }); });
    Plotly.update(gd, {x: xs}, {'xaxis.title.text': unit === 'pct' ? PCT_TITLE : MS_TITLE});
  });
  document.querySelectorAll('[data-unit-btn^="' + group + ':"]').forEach(function(b){
    b.classList.toggle('active', b.getAttribute('data-unit-btn') === group + ':' + unit);
  });
  document.dispatchEvent(new CustomEvent('dashboard:unit', {detail: {group: group, unit: unit}}));
}
