set terminal svg size 1100,700 dynamic noenhanced font 'Sans,11' background '#ffffff'
set output 'plot-sotu-heldout-jsonl-seq-len-512-102-windows.svg'
set title "sotu-heldout.jsonl, seq_len 512, 102 windows: quality vs KV memory (dashed: Pareto front per family; triangles: clipped at 25%)"
set logscale x 2
set xlabel 'KV memory reduction vs an fp16 cache (x, log scale)'
set ylabel 'relative perplexity change vs full (%), 95% bootstrap interval'
set yrange [-1:26.25]
set xrange [1:40]
set grid
set key bottom right
set arrow from 4, graph 0 to 4, graph 1 nohead dt 3 lc rgb '#999999'
set arrow from 8, graph 0 to 8, graph 1 nohead dt 3 lc rgb '#999999'
set arrow from 16, graph 0 to 16, graph 1 nohead dt 3 lc rgb '#999999'
set label 1 "quant/16b/r32" at 1,-0.000216192 offset 0.6,0.5 font 'Sans,8' textcolor rgb '#1b9e77'
set label 2 "quant/4b/r32" at 2.81319,0.182284 offset 0.6,0.5 font 'Sans,8' textcolor rgb '#1b9e77'
set label 3 "quant/2b/r32" at 4.19672,1.01542 offset 0.6,0.5 font 'Sans,8' textcolor rgb '#1b9e77'
set label 4 "chunked/c64/x8/16b" at 4,8.72041 offset 0.6,0.5 font 'Sans,8' textcolor rgb '#d95f02'
set label 5 "chunked/c64/x8/4b" at 5.22449,8.73182 offset 0.6,0.5 font 'Sans,8' textcolor rgb '#d95f02'
set label 6 "svd/k16/v16/u/16b" at 3.76471,3.71289 offset 0.6,0.5 font 'Sans,8' textcolor rgb '#7570b3'
set label 7 "svd/k16/v16/u/4b" at 9.14286,4.38642 offset 0.6,0.5 font 'Sans,8' textcolor rgb '#7570b3'
set label 8 "svd/k16/v16/u/2b" at 12.8,17.8904 offset 0.6,0.5 font 'Sans,8' textcolor rgb '#7570b3'
set label 9 "svd/k32/v32/u/4b" at 5.81818,0.965481 offset 0.6,0.5 font 'Sans,8' textcolor rgb '#7570b3'
set label 10 "svd/k32/v32/u/2b (+26%, clipped)" at 9.14286,25 offset 0.6,0.5 font 'Sans,8' textcolor rgb '#7570b3'
set label 11 "svd/k8/v8/u/16b" at 7.11111,22.6798 offset 0.6,0.5 font 'Sans,8' textcolor rgb '#7570b3'
set label 12 "svd/k8/v8/u/4b" at 12.8,22.9938 offset 0.6,0.5 font 'Sans,8' textcolor rgb '#7570b3'
set label 13 "budget-x16-16b:svd/heads/16b (+47%, clipped)" at 16,25 offset 0.6,0.5 font 'Sans,8' textcolor rgb '#e7298a'
set label 14 "budget-x16-4b:svd/heads/4b" at 16,17.4408 offset 0.6,0.5 font 'Sans,8' textcolor rgb '#e7298a'
set label 15 "budget-x8-16b:svd/heads/16b" at 8,17.3107 offset 0.6,0.5 font 'Sans,8' textcolor rgb '#e7298a'
set label 16 "budget-x8-4b:svd/heads/4b" at 8,1.63419 offset 0.6,0.5 font 'Sans,8' textcolor rgb '#e7298a'
set label 17 "svd/k8/v8/u/16b" at 7.11111,21.4075 offset 0.6,0.5 font 'Sans,8' textcolor rgb '#66a61e'
set label 18 "svd/k16/v16-32-64/position (+525%, clipped)" at 1.30529,25 offset 0.6,0.5 font 'Sans,8' textcolor rgb '#a6761d'
plot 'plot-sotu-heldout-jsonl-seq-len-512-102-windows-0.dat' using 1:($5==0?$2:1/0):3:4 with yerrorbars pt 7 ps 0.8 lc rgb '#1b9e77' title 'KIVI-style quant', \
     'plot-sotu-heldout-jsonl-seq-len-512-102-windows-0.dat' using 1:($5==1?$2:1/0) with points pt 9 ps 1.6 lc rgb '#1b9e77' notitle, \
     'plot-sotu-heldout-jsonl-seq-len-512-102-windows-0-front.dat' using 1:2 with lines lw 1.5 dt 2 lc rgb '#1b9e77' notitle, \
     'plot-sotu-heldout-jsonl-seq-len-512-102-windows-1.dat' using 1:($5==0?$2:1/0):3:4 with yerrorbars pt 7 ps 0.8 lc rgb '#d95f02' title 'chunked', \
     'plot-sotu-heldout-jsonl-seq-len-512-102-windows-1.dat' using 1:($5==1?$2:1/0) with points pt 9 ps 1.6 lc rgb '#d95f02' notitle, \
     'plot-sotu-heldout-jsonl-seq-len-512-102-windows-1-front.dat' using 1:2 with lines lw 1.5 dt 2 lc rgb '#d95f02' notitle, \
     'plot-sotu-heldout-jsonl-seq-len-512-102-windows-2.dat' using 1:($5==0?$2:1/0):3:4 with yerrorbars pt 7 ps 0.8 lc rgb '#7570b3' title 'svd, activation_pca uniform', \
     'plot-sotu-heldout-jsonl-seq-len-512-102-windows-2.dat' using 1:($5==1?$2:1/0) with points pt 9 ps 1.6 lc rgb '#7570b3' notitle, \
     'plot-sotu-heldout-jsonl-seq-len-512-102-windows-2-front.dat' using 1:2 with lines lw 1.5 dt 2 lc rgb '#7570b3' notitle, \
     'plot-sotu-heldout-jsonl-seq-len-512-102-windows-3.dat' using 1:($5==0?$2:1/0):3:4 with yerrorbars pt 7 ps 0.8 lc rgb '#e7298a' title 'svd, loss-driven budget', \
     'plot-sotu-heldout-jsonl-seq-len-512-102-windows-3.dat' using 1:($5==1?$2:1/0) with points pt 9 ps 1.6 lc rgb '#e7298a' notitle, \
     'plot-sotu-heldout-jsonl-seq-len-512-102-windows-3-front.dat' using 1:2 with lines lw 1.5 dt 2 lc rgb '#e7298a' notitle, \
     'plot-sotu-heldout-jsonl-seq-len-512-102-windows-4.dat' using 1:($5==0?$2:1/0):3:4 with yerrorbars pt 7 ps 0.8 lc rgb '#66a61e' title 'svd, output-aware values', \
     'plot-sotu-heldout-jsonl-seq-len-512-102-windows-4.dat' using 1:($5==1?$2:1/0) with points pt 9 ps 1.6 lc rgb '#66a61e' notitle, \
     'plot-sotu-heldout-jsonl-seq-len-512-102-windows-4-front.dat' using 1:2 with lines lw 1.5 dt 2 lc rgb '#66a61e' notitle, \
     'plot-sotu-heldout-jsonl-seq-len-512-102-windows-5.dat' using 1:($5==0?$2:1/0):3:4 with yerrorbars pt 7 ps 0.8 lc rgb '#a6761d' title 'svd, weight_svd (the seeds)', \
     'plot-sotu-heldout-jsonl-seq-len-512-102-windows-5.dat' using 1:($5==1?$2:1/0) with points pt 9 ps 1.6 lc rgb '#a6761d' notitle, \
     'plot-sotu-heldout-jsonl-seq-len-512-102-windows-5-front.dat' using 1:2 with lines lw 1.5 dt 2 lc rgb '#a6761d' notitle
