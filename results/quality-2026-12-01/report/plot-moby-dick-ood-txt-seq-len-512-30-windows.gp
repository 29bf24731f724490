set terminal svg size 1100,700 dynamic noenhanced font 'Sans,11' background '#ffffff'
set output 'plot-moby-dick-ood-txt-seq-len-512-30-windows.svg'
set title "moby-dick-ood.txt, seq_len 512, 30 windows: quality vs KV memory (dashed: Pareto front per family; triangles: clipped at 25%)"
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
set label 1 "quant/16b/r32" at 1,-0.000853716 offset 0.6,0.5 font 'Sans,8' textcolor rgb '#1b9e77'
set label 2 "quant/4b/r32" at 2.81319,0.0425395 offset 0.6,0.5 font 'Sans,8' textcolor rgb '#1b9e77'
set label 3 "quant/2b/r32" at 4.19672,0.434031 offset 0.6,0.5 font 'Sans,8' textcolor rgb '#1b9e77'
set label 4 "chunked/c64/x8/16b" at 4,8.85275 offset 0.6,0.5 font 'Sans,8' textcolor rgb '#d95f02'
set label 5 "chunked/c64/x8/4b" at 5.22449,8.93247 offset 0.6,0.5 font 'Sans,8' textcolor rgb '#d95f02'
set label 6 "svd/k16/v16/u/16b" at 3.76471,4.79947 offset 0.6,0.5 font 'Sans,8' textcolor rgb '#7570b3'
set label 7 "svd/k16/v16/u/4b" at 9.14286,5.19454 offset 0.6,0.5 font 'Sans,8' textcolor rgb '#7570b3'
set label 8 "svd/k16/v16/u/2b" at 12.8,14.1155 offset 0.6,0.5 font 'Sans,8' textcolor rgb '#7570b3'
set label 9 "svd/k32/v32/u/4b" at 5.81818,0.982211 offset 0.6,0.5 font 'Sans,8' textcolor rgb '#7570b3'
set label 10 "svd/k32/v32/u/2b" at 9.14286,17.6328 offset 0.6,0.5 font 'Sans,8' textcolor rgb '#7570b3'
set label 11 "svd/k8/v8/u/16b" at 7.11111,24.2314 offset 0.6,0.5 font 'Sans,8' textcolor rgb '#7570b3'
set label 12 "svd/k8/v8/u/4b" at 12.8,24.5337 offset 0.6,0.5 font 'Sans,8' textcolor rgb '#7570b3'
set label 13 "budget-x16-16b:svd/heads/16b (+45%, clipped)" at 16,25 offset 0.6,0.5 font 'Sans,8' textcolor rgb '#e7298a'
set label 14 "budget-x16-4b:svd/heads/4b" at 16,20.4857 offset 0.6,0.5 font 'Sans,8' textcolor rgb '#e7298a'
set label 15 "budget-x8-16b:svd/heads/16b" at 8,20.7412 offset 0.6,0.5 font 'Sans,8' textcolor rgb '#e7298a'
set label 16 "budget-x8-4b:svd/heads/4b" at 8,2.02432 offset 0.6,0.5 font 'Sans,8' textcolor rgb '#e7298a'
set label 17 "svd/k16/v16-32-64/position (+283%, clipped)" at 1.30529,25 offset 0.6,0.5 font 'Sans,8' textcolor rgb '#66a61e'
plot 'plot-moby-dick-ood-txt-seq-len-512-30-windows-0.dat' using 1:($5==0?$2:1/0):3:4 with yerrorbars pt 7 ps 0.8 lc rgb '#1b9e77' title 'KIVI-style quant', \
     'plot-moby-dick-ood-txt-seq-len-512-30-windows-0.dat' using 1:($5==1?$2:1/0) with points pt 9 ps 1.6 lc rgb '#1b9e77' notitle, \
     'plot-moby-dick-ood-txt-seq-len-512-30-windows-0-front.dat' using 1:2 with lines lw 1.5 dt 2 lc rgb '#1b9e77' notitle, \
     'plot-moby-dick-ood-txt-seq-len-512-30-windows-1.dat' using 1:($5==0?$2:1/0):3:4 with yerrorbars pt 7 ps 0.8 lc rgb '#d95f02' title 'chunked', \
     'plot-moby-dick-ood-txt-seq-len-512-30-windows-1.dat' using 1:($5==1?$2:1/0) with points pt 9 ps 1.6 lc rgb '#d95f02' notitle, \
     'plot-moby-dick-ood-txt-seq-len-512-30-windows-1-front.dat' using 1:2 with lines lw 1.5 dt 2 lc rgb '#d95f02' notitle, \
     'plot-moby-dick-ood-txt-seq-len-512-30-windows-2.dat' using 1:($5==0?$2:1/0):3:4 with yerrorbars pt 7 ps 0.8 lc rgb '#7570b3' title 'svd, activation_pca uniform', \
     'plot-moby-dick-ood-txt-seq-len-512-30-windows-2.dat' using 1:($5==1?$2:1/0) with points pt 9 ps 1.6 lc rgb '#7570b3' notitle, \
     'plot-moby-dick-ood-txt-seq-len-512-30-windows-2-front.dat' using 1:2 with lines lw 1.5 dt 2 lc rgb '#7570b3' notitle, \
     'plot-moby-dick-ood-txt-seq-len-512-30-windows-3.dat' using 1:($5==0?$2:1/0):3:4 with yerrorbars pt 7 ps 0.8 lc rgb '#e7298a' title 'svd, loss-driven budget', \
     'plot-moby-dick-ood-txt-seq-len-512-30-windows-3.dat' using 1:($5==1?$2:1/0) with points pt 9 ps 1.6 lc rgb '#e7298a' notitle, \
     'plot-moby-dick-ood-txt-seq-len-512-30-windows-3-front.dat' using 1:2 with lines lw 1.5 dt 2 lc rgb '#e7298a' notitle, \
     'plot-moby-dick-ood-txt-seq-len-512-30-windows-4.dat' using 1:($5==0?$2:1/0):3:4 with yerrorbars pt 7 ps 0.8 lc rgb '#66a61e' title 'svd, weight_svd (the seeds)', \
     'plot-moby-dick-ood-txt-seq-len-512-30-windows-4.dat' using 1:($5==1?$2:1/0) with points pt 9 ps 1.6 lc rgb '#66a61e' notitle, \
     'plot-moby-dick-ood-txt-seq-len-512-30-windows-4-front.dat' using 1:2 with lines lw 1.5 dt 2 lc rgb '#66a61e' notitle
