# Perplexity vs KV-cache bytes per token (moby-dick-ood.txt, seq_len 512, 30 windows), written by kvsvd report.
set terminal svg size 900,560 dynamic noenhanced font 'Sans,12' background '#ffffff'
set output 'ppl-vs-kv-bytes-moby-dick-ood-txt-seq-len-512-30-windows.svg'
set title 'Perplexity vs KV bytes per token: moby-dick-ood.txt, seq_len 512, 30 windows'
set xlabel 'KV cache bytes per token'
set ylabel 'perplexity'
set grid
set key outside right top
set offsets graph 0.05, graph 0.05, graph 0.05, graph 0.05
plot 'ppl-vs-kv-bytes-moby-dick-ood-txt-seq-len-512-30-windows.dat' index 0 using 1:2 with points pt 5 ps 1.3 title 'full', \
     'ppl-vs-kv-bytes-moby-dick-ood-txt-seq-len-512-30-windows.dat' index 1 using 1:2 with points pt 7 ps 1.3 title 'svd 16b', \
     'ppl-vs-kv-bytes-moby-dick-ood-txt-seq-len-512-30-windows.dat' index 2 using 1:2 with points pt 9 ps 1.3 title 'svd 4b', \
     'ppl-vs-kv-bytes-moby-dick-ood-txt-seq-len-512-30-windows.dat' index 3 using 1:2 with points pt 11 ps 1.3 title 'svd 2b', \
     'ppl-vs-kv-bytes-moby-dick-ood-txt-seq-len-512-30-windows.dat' index 4 using 1:2 with points pt 5 ps 1.3 title 'quant 16b', \
     'ppl-vs-kv-bytes-moby-dick-ood-txt-seq-len-512-30-windows.dat' index 5 using 1:2 with points pt 7 ps 1.3 title 'quant 4b', \
     'ppl-vs-kv-bytes-moby-dick-ood-txt-seq-len-512-30-windows.dat' index 6 using 1:2 with points pt 9 ps 1.3 title 'quant 2b', \
     'ppl-vs-kv-bytes-moby-dick-ood-txt-seq-len-512-30-windows.dat' index 7 using 1:2 with points pt 11 ps 1.3 title 'chunked 16b', \
     'ppl-vs-kv-bytes-moby-dick-ood-txt-seq-len-512-30-windows.dat' index 8 using 1:2 with points pt 5 ps 1.3 title 'chunked 4b', \
     'ppl-vs-kv-bytes-moby-dick-ood-txt-seq-len-512-30-windows.dat' index 9 using 1:2 with points pt 7 ps 1.3 title 'svd', \
     'ppl-vs-kv-bytes-moby-dick-ood-txt-seq-len-512-30-windows.dat' index 10 using 1:2 with linespoints dt 2 lw 1.5 pt 6 ps 2 lc rgb '#444444' title 'Pareto front'
