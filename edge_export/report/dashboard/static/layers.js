/* The per-layer view (layers.py): a module x artifact heatmap with stage -> block -> layer drill-down and the
   top-N modules at the chosen depth as bars, both drawn from the JSON in #layers-data. State: the depth shown,
   the module it is focused on (null = whole model; always at a coarser level than the depth) and the unit. */
(function(){
  var LV = ['stage', 'block', 'layer'];
  var D, byKey, S;

  function fmt(x){ return x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x >= 1 ? x.toFixed(2) : x.toFixed(3); }
  function pct(v, j){ return v === null ? null : 100 * v / D.total[j]; }
  function ancestor(li, key, to){ while (li > to){ key = byKey[li][key].p; li--; } return key; }
  function under(d, f){
    return D.levels[LV[d]].filter(function(r){ return !f || ancestor(d, r.k, f.lv) === f.key; });
  }
  function up(f){ return f.lv === 0 ? null : {lv: f.lv - 1, key: byKey[f.lv][f.key].p}; }
  // the first depth below focus f with more than f itself in it (a downsampling stage is its own only block)
  function drillDepth(f){
    for (var d = f.lv + 1; d < LV.length; d++){
      var rows = under(d, f);
      if (rows.length > 1 || (rows.length === 1 && rows[0].k !== f.key)) return d;
    }
    return -1;
  }
  // inside a focus, names relative to it: '.blocks.2' for network.0.blocks.2 under network.0
  function label(k){
    if (!S.focus) return k;
    if (k === S.focus.key) return '(the ' + LV[S.focus.lv] + ' itself)';
    return k.indexOf(S.focus.key + '.') === 0 ? k.slice(S.focus.key.length) : k;
  }

  function heatmap(){
    var rows = under(S.depth, S.focus);
    var z = rows.map(function(r){ return r.ms.map(pct); });
    var text = rows.map(function(r, i){ return r.ms.map(function(v, j){
      return v === null ? '' : S.unit === 'pct' ? z[i][j].toFixed(1) + '%' : fmt(v) + ' ms'; }); });
    var cd = rows.map(function(r, i){ return r.ms.map(function(v, j){
      return [v === null ? 0 : v, z[i][j] === null ? 0 : z[i][j], r.ops[j] || 0, r.k]; }); });
    var gd = document.getElementById('fig-layers-heat');
    return Plotly.react(gd, [{
      type: 'heatmap', z: z, x: D.cols, y: rows.map(function(r){ return label(r.k); }), text: text,
      texttemplate: '%{text}', textfont: {size: 11}, customdata: cd, colorscale: 'YlOrRd', reversescale: true, zmin: 0, xgap: 1, ygap: 1,
      colorbar: {title: {text: 'share', side: 'top'}, ticksuffix: '%', thickness: 12},
      hovertemplate: '<b>%{customdata[3]}</b><br>%{x}<br>%{customdata[0]:.4f} ms · %{customdata[1]:.1f}% of op time' +
        '<br>%{customdata[2]} ops<extra></extra>'
    }], {
      height: 90 + 24 * Math.max(rows.length, 4), margin: {l: 10, r: 10, t: 70, b: 10}, dragmode: false,
      xaxis: {side: 'top', type: 'category', fixedrange: true},
      yaxis: {autorange: 'reversed', type: 'category', automargin: true, fixedrange: true},
      plot_bgcolor: '#fff'
    }, {responsive: true, displaylogo: false}).then(function(){
      // forget the hover of the last view: plotly throttles hovers (50 ms), and a click that comes before the
      // next one would otherwise open the row at the old point's index in the new view
      Plotly.Fx.unhover(gd);
      return rows;
    });
  }

  function bars(){
    var rows = D.levels[LV[S.depth]].slice();
    var share = function(r){ return Math.max.apply(null, r.ms.map(function(v, j){ return pct(v, j) || 0; })); };
    rows.sort(function(a, b){ return share(b) - share(a); });
    var top = rows.slice(0, D.top), n = D.cols.length;
    var traces = D.cols.map(function(c, j){
      var cd = top.map(function(r){ return [pct(r.ms[j], j) || 0, r.ms[j] || 0, r.ops[j] || 0]; });
      return {type: 'bar', orientation: 'h', name: c.replace('<br>', ' '), y: top.map(function(r){ return r.k; }),
              x: cd.map(function(c){ return S.unit === 'pct' ? c[0] : c[1]; }), customdata: cd,
              hovertemplate: '<b>%{y}</b><br>%{customdata[1]:.4f} ms · %{customdata[0]:.1f}% of op time' +
                '<br>%{customdata[2]} ops<extra>' + c.replace('<br>', ' ') + '</extra>'};
    });
    document.getElementById('layers-bars-title').textContent = 'The ' + top.length + ' most expensive of ' +
      rows.length + ' modules at ' + LV[S.depth] + ' level, whole model (ranked by their largest share of any column)';
    return Plotly.react('fig-layers-bars', traces, {
      barmode: 'group', height: 110 + top.length * (6 * n + 10), margin: {l: 10, r: 10, t: 40, b: 40},
      xaxis: {title: {text: S.unit === 'pct' ? PCT_TITLE : MS_TITLE}, gridcolor: '#ebf0f8', zerolinecolor: '#ebf0f8'},
      yaxis: {autorange: 'reversed', type: 'category', automargin: true},
      legend: {orientation: 'h', y: 1.0, yanchor: 'bottom', x: 0, xanchor: 'left'}, plot_bgcolor: '#fff'
    }, {responsive: true, displaylogo: false});
  }

  function crumbs(){
    var chain = [], f = S.focus;
    for (; f; f = up(f)) chain.unshift(f);
    var el = document.getElementById('layers-crumbs');
    el.innerHTML = '';
    var add = function(text, target, current){
      var b = document.createElement(current ? 'span' : 'button');
      b.textContent = text;
      if (!current){ b.type = 'button'; b.className = 'crumb'; b.onclick = function(){ focus(target); }; }
      el.appendChild(b);
    };
    if (chain.length) { var ub = document.createElement('button'); ub.type = 'button'; ub.className = 'lvl';
      ub.id = 'layers-up'; ub.textContent = '↑ up'; ub.onclick = function(){ focus(up(S.focus), S.focus.lv); };
      el.appendChild(ub); }
    add('whole model', null, !chain.length);
    chain.forEach(function(c, i){ el.appendChild(document.createTextNode(' › ')); add(c.key, c, i === chain.length - 1); });
    el.appendChild(document.createTextNode(' — ' + LV[S.depth] + 's' + (S.depth < LV.length - 1 ? ' (click a row to open it)' : '')));
  }

  function draw(){
    document.querySelectorAll('[data-level-btn]').forEach(function(b){
      b.classList.toggle('active', b.getAttribute('data-level-btn') === LV[S.depth]);
    });
    crumbs();
    return Promise.all([heatmap(), bars()]).then(function(done){  // the module keys drawn, once both are
      document.getElementById('fig-layers-heat').setAttribute('data-rows', done[0].map(function(r){ return r.k; }).join('\n'));
    });
  }

  // focus on f (null: whole model) at `depth`, by default the first depth below f worth opening
  function focus(f, depth){
    S.focus = f;
    S.depth = depth !== undefined ? depth : f ? drillDepth(f) : 0;
    return draw();
  }

  function setDepth(level){
    var d = LV.indexOf(level), f = S.focus;
    while (f && f.lv >= d) f = up(f);
    S.focus = f; S.depth = d;
    return draw();
  }

  function init(){
    var el = document.getElementById('layers-data');
    if (!el || !window.Plotly) return;
    D = JSON.parse(el.textContent);
    byKey = LV.map(function(lv){ var m = {}; D.levels[lv].forEach(function(r){ m[r.k] = r; }); return m; });
    S = {depth: 0, focus: null, unit: D.unit};
    document.querySelectorAll('[data-level-btn]').forEach(function(b){
      b.addEventListener('click', function(){ setDepth(b.getAttribute('data-level-btn')); });
    });
    document.addEventListener('dashboard:unit', function(ev){
      if (ev.detail.group === 'layers'){ S.unit = ev.detail.unit; draw(); }
    });
    draw().then(function(){
      document.getElementById('fig-layers-heat').on('plotly_click', function(ev){
        var key = ev.points[0].customdata[3], f = {lv: S.depth, key: key};
        if (S.depth < LV.length - 1 && drillDepth(f) > 0) focus(f);
      });
    });
  }
  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', init); else init();
})();
