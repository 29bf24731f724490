# Retained energy per layer of /work/main/results/stores/sotu-tiny/wsvd.h5, written by kvsvd report.
set terminal svg size 900,560 dynamic noenhanced font 'Sans,12' background '#ffffff'
set output 'energy-per-layer.svg'
set title 'Retained energy per layer (mean over KV heads): wsvd.h5'
set xlabel 'layer'
set ylabel 'retained energy fraction'
set yrange [0:1.05]
set grid
set key outside right top
plot 'energy-per-layer.dat' using 1:2 with linespoints pt 7 title 'keys (rank 32)', \
     'energy-per-layer.dat' using 1:3 with linespoints pt 5 title 'values low (16)', \
     'energy-per-layer.dat' using 1:4 with linespoints pt 7 title 'values med (32)', \
     'energy-per-layer.dat' using 1:5 with linespoints pt 9 title 'values high (64)'
